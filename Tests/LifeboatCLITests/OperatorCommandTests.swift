import Foundation
import LifeboatSandbox
import LifeboatStore
import LifeboatTestSupport
import Testing

/// The operator commands against a running `lifeboat monitor` watching a real PostgreSQL pair.
@Suite(.serialized) struct OperatorCommandTests {
    @Test func statusPauseResumeEventsAndFailoverThroughTheAPI() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-ops-\(UUID())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let token = "tok-\(UUID().uuidString)"
            let tokenFile = dir.appendingPathComponent("api-token").path
            try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let port = try FreePort.find()
            let api = "http://127.0.0.1:\(port)"
            let config = dir.appendingPathComponent("lifeboat.yml").path
            let state = dir.appendingPathComponent("state.db").path
            try """
            cluster: shop
            regions:
              - name: \(cluster.nodes[0].region)
              - name: \(cluster.nodes[1].region)
            database:
              nodes:
                - {name: \(cluster.nodes[0].name), region: \(cluster.nodes[0].region), host: \(cluster.nodes[0].address), port: \(cluster.nodes[0].port)}
                - {name: \(cluster.nodes[1].name), region: \(cluster.nodes[1].region), host: \(cluster.nodes[1].address), port: \(cluster.nodes[1].port)}
            api:
              listen: 127.0.0.1:\(port)
              token_file: \(tokenFile)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let log = dir.appendingPathComponent("monitor.log").path
            let monitor = try MonitorCrashResumeTests.start(["monitor", "--config", config, "--state", state], env: [:], log: log)
            defer { if monitor.isRunning { monitor.terminate(); monitor.waitUntilExit() } }

            try await waitFor("monitoring with a streaming standby") {
                let r = try await CLI.run(["status", "--api", api, "--json"])
                return r.status == 0 && r.stdout.contains("\"state\":\"monitoring\"") && r.stdout.contains("\"wal_receiver\":\"streaming\"")
            }
            let table = try await CLI.run(["status", "--api", api])
            #expect(table.status == 0)
            #expect(table.stdout.hasPrefix("Cluster: shop   State: monitoring   Epoch: 0"))
            #expect(table.stdout.contains("| us-east | pg-us-east | primary |"))
            #expect(table.stdout.contains("| eu-west | pg-eu-west | standby | healthy |"))
            #expect(table.stdout.contains("Last decision: pg-us-east is the primary"))

            // Mutating calls need the token.
            let anonymous = try await CLI.run(["pause", "--api", api], environment: ["LIFEBOAT_API_TOKEN": ""])
            #expect(anonymous.status == 2)
            #expect(anonymous.stderr.contains("this command needs the API token"))
            let wrong = try await CLI.run(["pause", "--api", api], environment: ["LIFEBOAT_API_TOKEN": "nope"])
            #expect(wrong.status == 1)
            #expect(wrong.stderr.contains("the monitor refused the API token (401)"))

            let pause = try await CLI.run(["pause", "--api", api, "--token-file", tokenFile, "--by", "alice"])
            #expect(pause.stdout == "paused by alice: no automatic failover until resumed\n")
            #expect(try await CLI.run(["status", "--api", api]).stdout.contains("State: monitoring (paused)"))
            let resume = try await CLI.run(["resume", "--api", api], environment: ["LIFEBOAT_API_TOKEN": token])
            #expect(resume.stdout == "resumed by \(ProcessInfo.processInfo.environment["USER"] ?? "operator"): automatic failover allowed again\n")

            // Without --api: the address and the token from the monitor's config file, or LIFEBOAT_API.
            let fromConfig = try await CLI.run(["status", "--config", config])
            #expect(fromConfig.status == 0 && fromConfig.stdout.hasPrefix("Cluster: shop"), "\(fromConfig.stderr)")
            let viaEnvironment = try await CLI.run(["status"], environment: ["LIFEBOAT_CONFIG": "", "LIFEBOAT_API": api])
            #expect(viaEnvironment.status == 0 && viaEnvironment.stdout.hasPrefix("Cluster: shop"), "\(viaEnvironment.stderr)")
            let pausedByConfig = try await CLI.run(["pause", "--config", config, "--by", "carol"], environment: ["LIFEBOAT_API_TOKEN": ""])
            #expect(pausedByConfig.stdout == "paused by carol: no automatic failover until resumed\n", "\(pausedByConfig.stderr)")
            #expect(try await CLI.run(["resume", "--by", "carol"], environment: ["LIFEBOAT_CONFIG": config, "LIFEBOAT_API_TOKEN": ""]).status == 0)
            let missing = try await CLI.run(["status", "--config", dir.appendingPathComponent("nope.yml").path])
            #expect(missing.status == 2 && missing.stderr.contains("nope.yml"), "\(missing.stderr)")
            let badAPI = try await CLI.run(["status", "--api", "127.0.0.1:8547"])
            #expect(badAPI.status != 0 && badAPI.stderr.contains("--api: expected the monitor's URL"), "\(badAPI.stderr)")

            let plan = try await CLI.run(["failover", "--api", api, "--dry-run", "--token-file", tokenFile])
            #expect(plan.status == 0, "\(plan.stderr)")
            #expect(plan.stdout.hasPrefix("Plan (dry run, nothing changed): pg-us-east -> pg-eu-west under epoch 1\n  1. bump the epoch to 1\n"))
            #expect(plan.stdout.contains("would lose: "))
            // The switchover's plan is the core's too: it waits for the candidate to catch up.
            let planned = try await CLI.run(["switchover", "--api", api, "--dry-run", "--token-file", tokenFile])
            #expect(planned.status == 0, "\(planned.stderr)")
            #expect(planned.stdout.contains("3. wait until pg-eu-west has replayed pg-us-east's last WAL (zero data loss)\n"))
            #expect(planned.stdout.contains("would lose: nothing known (0 bytes behind)"))
            let refused = try await CLI.run(["failover", "--api", api, "--to", "pg-nowhere", "--token-file", tokenFile])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("no failover: pg-nowhere is not a standby of pg-us-east"))

            let failover = try await CLI.run(["failover", "--api", api, "--to", "pg-eu-west", "--token-file", tokenFile, "--by", "bob"])
            #expect(failover.status == 0, "\(failover.stderr)")
            #expect(failover.stdout.hasPrefix("Failover started: pg-us-east -> pg-eu-west"))
            try await waitFor("failover complete") {
                let json = try await CLI.run(["status", "--api", api, "--json"]).stdout
                let table = try await CLI.run(["status", "--api", api]).stdout
                return json.contains("\"primary\":\"pg-eu-west\",\"state\":\"monitoring\"") || table.contains("State: monitoring   Epoch: 1")
            }
            let events = try await CLI.run(["events", "--api", api]).stdout
            #expect(events.contains("operator asked for failover") || events.contains("operator bob asked for failover to pg-eu-west"))
            #expect(events.contains("paused by alice"))
            // Newest first by default; oldest first with --since; what was left out is said.
            let seqs = { (text: String) in text.split(separator: "\n").compactMap { Int($0.split(separator: " ").first ?? "") } }
            #expect(seqs(events).count > 5 && seqs(events) == seqs(events).sorted(by: >), "\(events)")
            let oldestFirst = try await CLI.run(["events", "--api", api, "--since", "0"]).stdout
            #expect(seqs(oldestFirst).first == 1 && seqs(oldestFirst) == seqs(oldestFirst).sorted(), "\(oldestFirst)")
            let two = try await CLI.run(["events", "--api", api, "--limit", "2"]).stdout
            #expect(seqs(two).count == 2 && two.contains("earlier events not shown"), "\(two)")
            // --follow prints what is journaled from now on.
            let followLog = dir.appendingPathComponent("follow.log").path
            let follower = try MonitorCrashResumeTests.start(["events", "--follow", "--api", api], env: [:], log: followLog)
            defer { if follower.isRunning { follower.terminate(); follower.waitUntilExit() } }
            try await waitFor("--follow to print the last events") { seqs((try? String(contentsOfFile: followLog, encoding: .utf8)) ?? "").count >= 3 }
            #expect(try await CLI.run(["pause", "--api", api, "--token-file", tokenFile, "--by", "dave"]).status == 0)
            try await waitFor("--follow to print the new event") { ((try? String(contentsOfFile: followLog, encoding: .utf8)) ?? "").contains("pause asked by dave") }
            follower.terminate()

            monitor.terminate()
            monitor.waitUntilExit()
            #expect(monitor.terminationStatus == 0)
            // The token never appears in the log, the journal or any answer.
            let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let journal = try await SQLiteStateStore(path: state, readOnly: true).journal(after: 0, limit: 100_000).map(\.message).joined(separator: "\n")
            #expect(!logged.contains(token) && !journal.contains(token) && !events.contains(token) && !table.stdout.contains(token))
        }
    }
}
