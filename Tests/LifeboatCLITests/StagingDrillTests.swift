import Foundation
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// `lifeboat drill --staging` against a running `lifeboat monitor` (and node agents) watching a
/// real PostgreSQL pair, as on a real deployment: refused without the typed confirmation or while
/// paused; then a switchover there and back, the old primary rejoining each time, with the report.
@Suite(.serialized) struct StagingDrillTests {
    @Test func aSwitchoverThereAndBackThroughTheRunningMonitor() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-staging-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let agents = try SandboxAgents(cluster: cluster, logger: testLogger())
            try await agents.start(logger: testLogger())
            defer { Task { await agents.stop() } }
            let keyFile = dir.appendingPathComponent("agent.key").path
            try agents.key.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let tokenFile = dir.appendingPathComponent("api-token").path
            try "tok-\(UUID().uuidString)".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let port = try FreePort.find()
            let config = dir.appendingPathComponent("lifeboat.yml").path
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            try """
            cluster: shop
            regions: [{name: \(a.region)}, {name: \(b.region)}]
            database:
              user: postgres
              nodes:
                - {name: \(a.name), region: \(a.region), host: \(a.address), port: \(a.port), agent: "\(agents.urls[a.name]!)"}
                - {name: \(b.name), region: \(b.region), host: \(b.address), port: \(b.port), agent: "\(agents.urls[b.name]!)"}
            agents: {key_file: \(keyFile), interval: 1s}
            api: {listen: "127.0.0.1:\(port)", token_file: \(tokenFile)}
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let monitor = try MonitorCrashResumeTests.start(["monitor", "--config", config, "--state", dir.appendingPathComponent("state.db").path],
                                                            env: [:], log: dir.appendingPathComponent("monitor.log").path)
            defer { if monitor.isRunning { monitor.terminate(); monitor.waitUntilExit() } }
            try await waitFor("monitoring with a streaming standby") {
                let r = try await CLI.run(["status", "--config", config, "--json"])
                return r.status == 0 && r.stdout.contains("\"state\":\"monitoring\"") && r.stdout.contains("\"wal_receiver\":\"streaming\"")
            }

            let unconfirmed = try await CLI.run(["drill", "--staging", "--config", config])
            #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("type its name again: --confirm shop"), "\(unconfirmed.stderr)")
            let wrong = try await CLI.run(["drill", "--staging", "--config", config, "--confirm", "shoP"])
            #expect(wrong.status == 1 && wrong.stderr.contains("--confirm shop"))
            #expect(try await CLI.run(["pause", "--config", config]).status == 0)
            let paused = try await CLI.run(["drill", "--staging", "--config", config, "--confirm", "shop"])
            #expect(paused.status == 1 && paused.stderr.contains("automatic failover is paused"), "\(paused.stderr)")
            #expect(try await CLI.run(["resume", "--config", config]).status == 0)

            let reports = dir.appendingPathComponent("reports").path
            let drill = try await CLI.run(["drill", "--staging", "--config", config, "--confirm", "shop", "--report-dir", reports])
            #expect(drill.status == 0, "\(drill.stdout)\n\(drill.stderr)")
            #expect(drill.stdout.contains("staging drill on cluster shop"), "\(drill.stdout)")
            let made = try FileManager.default.contentsOfDirectory(atPath: reports).filter { $0.hasSuffix("-staging-switchover") }
            let folder = try #require(made.first, "\(made)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(reports)/\(folder)/report.json"))) as? [String: Any])
            let run = try #require((json["runs"] as? [[String: Any]])?.first)
            #expect(json["passed"] as? Bool == true, "\(run["problems"] ?? "")")
            #expect((run["rto_seconds"] as? Double ?? 0) > 0)
            #expect(run["new_primary"] as? String == b.name)
            let failback = try #require(run["failback"] as? [String: Any])
            #expect(failback["end_primary"] as? String == a.name)
            #expect(failback["end_streaming"] as? [String] == [b.name])
            #expect(failback["switchback_seconds"] as? Double != nil && failback["standby_again_seconds"] as? Double != nil)
            let html = try String(contentsOfFile: "\(reports)/\(folder)/report.html", encoding: .utf8)
            #expect(html.contains(#"id="failback-1""#) && html.contains("ends with</th><td>primary \(a.name), streaming: \(b.name)"), "the way back is in the report")
            let events = (run["timeline"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
            #expect(events.contains("fenced") && events.contains("promoted") && events.contains("writable"), "\(events)")

            let after = try await CLI.run(["status", "--config", config, "--json"])
            #expect(after.stdout.contains("\"primary\":\"\(a.name)\""), "\(after.stdout)")
        }
    }
}
