import AsyncHTTPClient
import Foundation
import LifeboatSandbox
import LifeboatStore
import LifeboatTestSupport
import Testing

/// `lifeboat agent` processes in two regions, driven by a real `lifeboat monitor`: drift,
/// file replication, fencing through the agent, and the file direction following a switchover.
@Suite(.serialized) struct AgentMonitorTests {
    @Test func agentsFenceReportDriftAndFilesFollowTheSwitchover() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-agents-\(UUID().uuidString.prefix(8))").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let key = "agent-key-\(UUID().uuidString)"
            let keyFile = "\(dir)/agent.key"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let token = "tok-\(UUID().uuidString)"
            try token.write(toFile: "\(dir)/api-token", atomically: true, encoding: .utf8)

            var agentURLs: [String: String] = [:]
            var agents: [Process] = []
            defer { for a in agents where a.isRunning { a.terminate(); a.waitUntilExit() } }
            for node in cluster.nodes {
                let region = node.region
                try FileManager.default.createDirectory(atPath: "\(dir)/\(region)/files/uploads", withIntermediateDirectories: true)
                // Deployments differ: eu-west runs another config file than the primary region.
                try "workers = \(region == "us-east" ? 8 : 4)\n".write(toFile: "\(dir)/\(region)/app.conf", atomically: true, encoding: .utf8)
                let port = try FreePort.find()
                agentURLs[node.name] = "http://127.0.0.1:\(port)"
                try """
                node: \(node.name)
                region: \(region)
                listen: 127.0.0.1:\(port)
                key_file: \(keyFile)
                state_file: \(dir)/\(region)/agent-state.json
                cache: 200ms
                database: {host: \(node.address), port: \(node.port), user: postgres}
                checks:
                  - {name: database, type: postgresql}
                deployment:
                  config_files: [\(dir)/\(region)/app.conf]
                files:
                  primary_region: us-east
                  interval: 1s
                  paths: [{name: uploads, path: \(dir)/\(region)/files/uploads}]
                  sources:
                    - {region: us-east, url: \(dir)/us-east/files}
                    - {region: eu-west, url: \(dir)/eu-west/files}
                  state_file: \(dir)/\(region)/agent-files.json
                """.write(toFile: "\(dir)/\(region)/agent.yml", atomically: true, encoding: .utf8)
                let validate = try await CLI.run(["agent", "--validate", "--config", "\(dir)/\(region)/agent.yml"])
                #expect(validate.status == 0, "\(validate.stderr)")
                agents.append(try MonitorCrashResumeTests.start(["agent", "--config", "\(dir)/\(region)/agent.yml"], env: [:], log: "\(dir)/\(region)/agent.log"))
            }

            let apiPort = try FreePort.find()
            let api = "http://127.0.0.1:\(apiPort)"
            try """
            cluster: shop
            regions: [{name: us-east}, {name: eu-west}]
            database:
              nodes:
                - {name: \(cluster.nodes[0].name), region: us-east, host: \(cluster.nodes[0].address), port: \(cluster.nodes[0].port), agent: "\(agentURLs[cluster.nodes[0].name]!)"}
                - {name: \(cluster.nodes[1].name), region: eu-west, host: \(cluster.nodes[1].address), port: \(cluster.nodes[1].port), agent: "\(agentURLs[cluster.nodes[1].name]!)"}
            agents:
              key_file: \(keyFile)
              interval: 1s
              timeout: 10s
            api:
              listen: 127.0.0.1:\(apiPort)
              token_file: \(dir)/api-token
            """.write(toFile: "\(dir)/lifeboat.yml", atomically: true, encoding: .utf8)
            let monitor = try MonitorCrashResumeTests.start(["monitor", "--config", "\(dir)/lifeboat.yml", "--state", "\(dir)/state.db"],
                                                            env: [:], log: "\(dir)/monitor.log")
            defer { if monitor.isRunning { monitor.terminate(); monitor.waitUntilExit() } }

            // Files written in the primary region reach the standby region.
            try "invoice one".write(toFile: "\(dir)/us-east/files/uploads/invoice-1.pdf", atomically: true, encoding: .utf8)
            try await waitFor("invoice-1 to reach eu-west", timeout: .seconds(20)) {
                FileManager.default.fileExists(atPath: "\(dir)/eu-west/files/uploads/invoice-1.pdf")
            }

            // The monitor sees both agents, flags eu-west's drift, and shows the files' age.
            var lastStatus = ""
            defer { if !lastStatus.contains("\"drift\":true") { Issue.record("last status: \(lastStatus)") } }
            try await waitFor("both agents in the monitor's status", timeout: .seconds(40)) {
                let s = try await CLI.run(["status", "--api", api, "--json"]).stdout
                lastStatus = s
                return s.contains("\"state\":\"monitoring\"") && s.components(separatedBy: "\"reachable\":true").count >= 5
                    && s.contains("\"drift\":true") && s.contains("\"age_seconds\"") && s.contains("\"role\":\"replica\"")
            }
            let table = try await CLI.run(["status", "--api", api]).stdout
            #expect(table.contains("Agents"), "\(table)")
            #expect(table.contains("| eu-west | pg-eu-west | replica    | DRIFT"), "\(table)")
            #expect(table.contains("from us-east (epoch 0)"), "\(table)")
            let metrics = try await get("\(api)/metrics")
            #expect(metrics.contains(#"lifeboat_deployment_drift{node="pg-eu-west",region="eu-west"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"lifeboat_agent_up{node="pg-us-east",region="us-east"} 1"#))

            // A switchover fences us-east through its agent, then the files' direction turns round.
            let switchover = try await CLI.run(["switchover", "--api", api, "--to", "pg-eu-west", "--token-file", "\(dir)/api-token"])
            #expect(switchover.status == 0, "\(switchover.stderr)")
            do {
                try await waitFor("the switchover to finish", timeout: .seconds(30)) {
                    try await CLI.run(["status", "--api", api]).stdout.contains("State: monitoring   Epoch: 1")
                }
            } catch {
                Issue.record("status: \((try? await CLI.run(["status", "--api", api]).stdout) ?? "?")")
                Issue.record("events: \((try? await CLI.run(["events", "--api", api]).stdout.suffix(4000)) ?? "?")")
                Issue.record("monitor log: \((try? String(contentsOfFile: "\(dir)/monitor.log", encoding: .utf8).suffix(4000)) ?? "none")")
                throw error
            }
            let events = try await CLI.run(["events", "--api", api]).stdout
            #expect(events.contains("by its agent, read-only"), "\(events)")
            try "invoice two".write(toFile: "\(dir)/eu-west/files/uploads/invoice-2.pdf", atomically: true, encoding: .utf8)
            try await waitFor("invoice-2 to flow from the new primary region to us-east", timeout: .seconds(20)) {
                FileManager.default.fileExists(atPath: "\(dir)/us-east/files/uploads/invoice-2.pdf")
            }
            try await waitFor("the agents to follow epoch 1", timeout: .seconds(10)) {
                let t = try await CLI.run(["status", "--api", api]).stdout
                return t.contains("from eu-west (epoch 1)") && t.contains("source (epoch 1)")
            }
            let state = try String(contentsOfFile: "\(dir)/us-east/agent-files.json", encoding: .utf8)
            #expect(state.contains("\"epoch\":1") && state.contains("eu-west"), "\(state)")

            // Nothing secret in any log.
            for log in ["monitor.log", "us-east/agent.log", "eu-west/agent.log"] {
                let text = (try? String(contentsOfFile: "\(dir)/\(log)", encoding: .utf8)) ?? ""
                #expect(!text.contains(key), "\(log) holds the agent key")
                #expect(!text.contains(token))
            }
        }
    }
}

private func get(_ url: String) async throws -> String {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    return String(buffer: try await response.body.collect(upTo: 1 << 20))
}
