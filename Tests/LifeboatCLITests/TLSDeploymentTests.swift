import AsyncHTTPClient
import Foundation
import LifeboatAgentAPI
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// The example of docs/operations.md ("TLS"), run as written: certificates from
/// deploy/tls/make-certs.sh, two `lifeboat agent` processes serving HTTPS and requiring client
/// certificates, a `lifeboat monitor` serving its API over HTTPS and calling the agents with its
/// own certificate, and the CLI checking the monitor's certificate against the CA.
@Suite(.serialized) struct TLSDeploymentTests {
    /// The role a node's agent reports in `status --json` ("fenced" while its PostgreSQL is read-only).
    static func agentRole(_ json: String, _ node: String) -> String? {
        guard let top = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let agents = top["agents"] as? [[String: Any]] else { return nil }
        return agents.first { $0["node"] as? String == node }?["role"] as? String
    }

    @Test func monitorAgentsAndCLITalkHTTPSWithClientCertificates() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-tls-\(UUID().uuidString.prefix(8))").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let tls = "\(dir)/tls"
            _ = try TestCertificates.make(cluster.nodes.map { "\($0.name)=127.0.0.1,localhost" } + ["monitor=127.0.0.1", "operator=127.0.0.1"], directory: tls)
                        let key = "agent-key-\(UUID().uuidString)"
            try key.write(toFile: "\(dir)/agent.key", atomically: true, encoding: .utf8)
            let token = "tok-\(UUID().uuidString)"
            try token.write(toFile: "\(dir)/api-token", atomically: true, encoding: .utf8)

            let apiPort = try FreePort.find()
            let api = "https://127.0.0.1:\(apiPort)"
            var agentURLs: [String: String] = [:]
            var agents: [Process] = []
            defer { for a in agents where a.isRunning { a.terminate(); a.waitUntilExit() } }
            for node in cluster.nodes {
                let port = try FreePort.find()
                agentURLs[node.name] = "https://127.0.0.1:\(port)"
                let config = "\(dir)/\(node.region)-agent.yml"
                try """
                node: \(node.name)
                region: \(node.region)
                listen: 127.0.0.1:\(port)
                key_file: \(dir)/agent.key
                state_file: \(dir)/\(node.region)-agent-state.json
                database: {host: \(node.address), port: \(node.port), user: postgres}
                checks:
                  - {name: database, type: postgresql}
                tls:
                  cert_file: \(tls)/\(node.name).crt
                  key_file: \(tls)/\(node.name).key
                  ca_file: \(tls)/ca.crt
                  client_certificates: require
                lease: {monitor: "\(api)", renew_every: 500ms}
                """.write(toFile: config, atomically: true, encoding: .utf8)
                let validate = try await CLI.run(["agent", "--validate", "--config", config])
                #expect(validate.status == 0, "\(validate.stderr)")
                agents.append(try MonitorCrashResumeTests.start(["agent", "--config", config], env: [:], log: "\(dir)/\(node.region)-agent.log"))
            }

            try """
            cluster: shop
            regions: [{name: us-east}, {name: eu-west}]
            database:
              nodes:
                - {name: \(cluster.nodes[0].name), region: us-east, host: \(cluster.nodes[0].address), port: \(cluster.nodes[0].port), agent: "\(agentURLs[cluster.nodes[0].name]!)"}
                - {name: \(cluster.nodes[1].name), region: eu-west, host: \(cluster.nodes[1].address), port: \(cluster.nodes[1].port), agent: "\(agentURLs[cluster.nodes[1].name]!)"}
            agents:
              key_file: \(dir)/agent.key
              interval: 1s
              timeout: 10s
            api:
              listen: 127.0.0.1:\(apiPort)
              token_file: \(dir)/api-token
            failover: {lease_ttl: 3s}
            tls:
              cert_file: \(tls)/monitor.crt
              key_file: \(tls)/monitor.key
              ca_file: \(tls)/ca.crt
              client_certificates: require
            """.write(toFile: "\(dir)/lifeboat.yml", atomically: true, encoding: .utf8)
            let validate = try await CLI.run(["validate", "\(dir)/lifeboat.yml"])
            #expect(validate.status == 0, "\(validate.stderr)")
            let monitor = try MonitorCrashResumeTests.start(["monitor", "--config", "\(dir)/lifeboat.yml", "--state", "\(dir)/state.db"],
                                                            env: [:], log: "\(dir)/monitor.log")
            defer { if monitor.isRunning { monitor.terminate(); monitor.waitUntilExit() } }

            // Over HTTPS, checked against the CA: the monitor reaches both agents with its certificate.
            let ca = ["--ca-file", "\(tls)/ca.crt", "--cert-file", "\(tls)/operator.crt", "--key-file", "\(tls)/operator.key"]
            var last = ""
            do {
                try await waitFor("both agents reachable through the monitor", timeout: .seconds(40)) {
                    last = try await CLI.run(["status", "--api", api, "--json"] + ca).stdout
                    return last.contains("\"state\":\"monitoring\"") && last.components(separatedBy: "\"reachable\":true").count >= 5
                        && Self.agentRole(last, "pg-us-east") == "primary"
                }
            } catch {
                Issue.record("status: \(last)\nmonitor log: \((try? String(contentsOfFile: "\(dir)/monitor.log", encoding: .utf8).suffix(3000)) ?? "")")
                throw error
            }
            // The primary's agent holds its lease, renewed over mutual TLS (its /metrics says so).
            let scraper = HTTPClient.lifeboat(tls: try TLSFiles(certFile: "\(tls)/operator.crt", keyFile: "\(tls)/operator.key",
                                                                caFile: "\(tls)/ca.crt", requireClientCertificates: false).client())
            var metrics = ""
            try await waitFor("the primary's agent to hold the lease", timeout: .seconds(20)) {
                let response = try await scraper.execute(HTTPClientRequest(url: agentURLs["pg-us-east"]! + "/metrics"), timeout: .seconds(5))
                metrics = String(buffer: try await response.body.collect(upTo: 1 << 20))
                return metrics.contains("lifeboat_agent_lease_held 1")
            }
            #expect(metrics.contains("lifeboat_agent_lease_failsafe 0"), "\(metrics)")
            // The monitor's side of it, in status.
            var leased = ""
            try await waitFor("status to show the lease", timeout: .seconds(10)) {
                leased = try await CLI.run(["status", "--api", api] + ca).stdout
                return leased.contains("Lease: held by pg-us-east, ")
            }
            let leasedJSON = try await CLI.run(["status", "--api", api, "--json"] + ca).stdout
            let lease = (try? JSONSerialization.jsonObject(with: Data(leasedJSON.utf8)) as? [String: Any])?["lease"] as? [String: Any]
            #expect(lease?["holder"] as? String == "pg-us-east" && lease?["released"] as? Bool == false, "\(leased)\n\(leasedJSON)")
            try await scraper.shutdown()
            let operatorCertificate = ["--cert-file", "\(tls)/operator.crt", "--key-file", "\(tls)/operator.key"]
            // The same with the CA from LIFEBOAT_CA_FILE.
            let viaEnvironment = try await CLI.run(["status", "--api", api] + operatorCertificate, environment: ["LIFEBOAT_CA_FILE": "\(tls)/ca.crt"])
            #expect(viaEnvironment.status == 0 && viaEnvironment.stdout.contains("pg-eu-west"), "\(viaEnvironment.stderr)")
            // Without the CA the CLI does not trust the monitor, and says why.
            let untrusted = try await CLI.run(["status", "--api", api] + operatorCertificate, environment: ["LIFEBOAT_CA_FILE": ""])
            #expect(untrusted.status != 0)
            #expect(untrusted.stderr.contains("cannot talk TLS with the monitor"), "\(untrusted.stderr)")
            // Without a client certificate the monitor does not take the connection.
            let anonymous = try await CLI.run(["status", "--api", api, "--ca-file", "\(tls)/ca.crt"])
            #expect(anonymous.status != 0, "\(anonymous.stdout)")
            #expect(anonymous.stderr.contains("--cert-file"), "\(anonymous.stderr)")
            // A switchover fences the old primary through its agent, over mutual TLS.
            let switchover = try await CLI.run(["switchover", "--api", api, "--to", "pg-eu-west", "--token-file", "\(dir)/api-token"] + ca)
            #expect(switchover.status == 0, "\(switchover.stderr)")
            try await waitFor("the switchover to finish", timeout: .seconds(40)) {
                try await CLI.run(["status", "--api", api] + ca).stdout.contains("State: monitoring   Epoch: 1")
            }
            let events = try await CLI.run(["events", "--api", api] + ca).stdout
            #expect(events.contains("by its agent, read-only"), "\(events)")
            for log in ["monitor.log", "us-east-agent.log", "eu-west-agent.log"] {
                let text = (try? String(contentsOfFile: "\(dir)/\(log)", encoding: .utf8)) ?? ""
                #expect(!text.contains(key) && !text.contains(token), "\(log) holds a secret")
                #expect(!text.contains("BEGIN"), "\(log) holds PEM material")
            }
        }
    }
}
