import Foundation
import LifeboatPorts
import LifeboatSandbox
import LifeboatStore
import LifeboatTestSupport
import Testing

/// `lifeboat monitor` killed right after each workflow step, then restarted: every run ends with
/// exactly one promotion, epoch 1, and traffic switched — against a real PostgreSQL pair and Knot.
@Suite(.serialized) struct MonitorCrashResumeTests {
    /// Every step of the workflow: "repoint" needs a third region; "catch-up" happens only in a
    /// planned switchover, which the test asks for through the API instead of killing the primary.
    @Test(arguments: ["bump-epoch", "fence", "catch-up", "promote", "wait-writable", "repoint", "switch-traffic"])
    func aMonitorKilledAfterAStepFinishesTheFailoverOnRestart(step: String) async throws {
        let regions = step == "repoint" ? ["us-east", "eu-west", "ap-south"] : ["us-east", "eu-west"]
        try await withSandboxCluster(regions: regions) { cluster in
            let knot = try KnotServer(zone: "lifeboat.sandbox", records: ["app 0 IN A \(cluster.primary.address)"])
            defer { knot.stop() }
            try await knot.waitUntilServing()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-monitor-\(UUID())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let config = dir.appendingPathComponent("lifeboat.yml").path
            let state = dir.appendingPathComponent("state.db").path
            let apiPort = try FreePort.find()
            try """
            regions:
            \(cluster.nodes.map { "  - name: \($0.region)" }.joined(separator: "\n"))
            database:
              user: postgres
              nodes:
            \(cluster.nodes.map { "    - {name: \($0.name), region: \($0.region), host: \($0.address), port: \($0.port)}" }.joined(separator: "\n"))
            api:
              listen: 127.0.0.1:\(apiPort)
              token_env: LIFEBOAT_API_TOKEN
            dns:
              provider: rfc2136
              zone: lifeboat.sandbox
              record: app
              ttl: 0
              targets:
            \(cluster.nodes.map { "    \($0.region): \($0.address)" }.joined(separator: "\n"))
              rfc2136:
                server: 127.0.0.1:\(knot.port)
                key_name: \(knot.keyName)
                key_secret_env: LIFEBOAT_TSIG
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let env = ["LIFEBOAT_TSIG": knot.keySecret, "LIFEBOAT_API_TOKEN": "crash-test"]

            let log = dir.appendingPathComponent("monitor.log").path
            let first = try Self.start(["monitor", "--config", config, "--state", state], env: env.merging(["LIFEBOAT_TEST_CRASH_AFTER_STEP": step]) { $1 }, log: log)
            do {
                try await waitFor("monitoring") { try await Self.journal(state).contains { $0.kind == "transition discovering -> monitoring" } }
            } catch {
                Issue.record("monitor log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "none")")
                first.terminate()
                throw error
            }
            // Discovery waits until every node was probed once: the standby is known by now.
            if step == "catch-up" {
                let asked = try await CLI.run(["switchover", "--api", "http://127.0.0.1:\(apiPort)"], environment: ["LIFEBOAT_API_TOKEN": "crash-test"])
                #expect(asked.status == 0 || !first.isRunning, "\(asked.stderr)")
            } else {
                _ = try await cluster.kill(cluster.primary)
            }
            try await waitFor("crash after \(step)", timeout: .seconds(30)) { !first.isRunning }
            #expect(first.terminationStatus == 70, "the monitor was killed right after \(step)")
            if first.terminationStatus != 70 {
                Issue.record("monitor log: \((try? String(contentsOfFile: log, encoding: .utf8).suffix(6000)) ?? "none")")
            }

            let second = try Self.start(["monitor", "--config", config, "--state", state], env: env, log: log)
            do {
                try await waitFor("failover complete", timeout: .seconds(30)) {
                    try await Self.journal(state).contains { $0.kind == "transition switching-traffic -> monitoring" }
                }
            } catch {
                Issue.record("log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                Issue.record("journal: \(try await Self.journal(state).map { "\($0.kind) \($0.step ?? "") \($0.message)" }.joined(separator: "\n"))")
                second.terminate()
                throw error
            }
            second.terminate() // SIGTERM: graceful
            second.waitUntilExit()
            #expect(second.terminationStatus == 0, "SIGTERM stops the monitor cleanly")

            let lines = try await Self.journal(state)
            #expect(lines.contains { $0.kind == "decision" && $0.message.hasPrefix("resuming after a restart at step") } || step == "switch-traffic",
                    "\(lines.map(\.message))")
            // Killed after the promotion but before its result was recorded, the monitor re-issues
            // it on restart, and it finds the node already promoted: one real promotion either way.
            let promotions = lines.filter { $0.kind == "step-succeeded" && $0.step == "promote" }.map(\.message)
            #expect(promotions.filter { $0 == "pg_promote returned true" }.count == (step == "promote" ? 0 : 1), "\(promotions)")
            #expect(promotions.allSatisfy { $0 == "pg_promote returned true" || $0.hasPrefix("already out of recovery") }, "\(promotions)")
            #expect(try await SQLiteStateStore(path: state, readOnly: true).load().epoch.value == 1, "one epoch bump")
            // PostgreSQL agrees: one timeline switch, one history file.
            let history = try await cluster.psql(cluster.standbys[0], "SELECT count(*) FROM pg_ls_dir('pg_wal') AS f WHERE f LIKE '%.history'")
            #expect(history.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            #expect(try knot.kdig("app.lifeboat.sandbox", "A") == cluster.standbys[0].address)
            // The TSIG secret appears in no log line and no journal line.
            let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(!logged.isEmpty)
            #expect(!logged.contains(knot.keySecret))
            #expect(!lines.contains { $0.message.contains(knot.keySecret) })
        }
    }

    static func start(_ arguments: [String], env: [String: String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    static func journal(_ path: String) async throws -> [StoredJournalLine] {
        guard FileManager.default.fileExists(atPath: path), let store = try? SQLiteStateStore(path: path, readOnly: true) else { return [] }
        return (try? await store.journal(after: 0, limit: 100_000)) ?? []
    }
}
