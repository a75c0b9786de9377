import Foundation
import LifeboatSandbox
import LifeboatStore
import LifeboatTestSupport
import Testing

/// `lifeboat monitor` killed right after each workflow step, then restarted: every run ends with
/// exactly one promotion, epoch 1, and traffic switched — against a real PostgreSQL pair and Knot.
@Suite(.serialized) struct MonitorCrashResumeTests {
    @Test(arguments: ["bump-epoch", "fence", "promote", "wait-writable", "switch-traffic"])
    func aMonitorKilledAfterAStepFinishesTheFailoverOnRestart(step: String) async throws {
        try await withSandboxCluster { cluster in
            let knot = try KnotServer(zone: "lifeboat.sandbox", records: ["app 0 IN A \(cluster.primary.address)"])
            defer { knot.stop() }
            try await knot.waitUntilServing()
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-monitor-\(UUID())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let config = dir.appendingPathComponent("lifeboat.yml").path
            let state = dir.appendingPathComponent("state.db").path
            try """
            regions:
              - name: \(cluster.nodes[0].region)
              - name: \(cluster.nodes[1].region)
            database:
              user: postgres
              nodes:
                - {name: \(cluster.nodes[0].name), region: \(cluster.nodes[0].region), host: \(cluster.nodes[0].address), port: \(cluster.nodes[0].port)}
                - {name: \(cluster.nodes[1].name), region: \(cluster.nodes[1].region), host: \(cluster.nodes[1].address), port: \(cluster.nodes[1].port)}
            api:
              listen: 127.0.0.1:\(try FreePort.find())
            dns:
              provider: rfc2136
              zone: lifeboat.sandbox
              record: app
              ttl: 0
              targets:
                \(cluster.nodes[0].region): \(cluster.nodes[0].address)
                \(cluster.nodes[1].region): \(cluster.nodes[1].address)
              rfc2136:
                server: 127.0.0.1:\(knot.port)
                key_name: \(knot.keyName)
                key_secret_env: LIFEBOAT_TSIG
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let env = ["LIFEBOAT_TSIG": knot.keySecret]

            let log = dir.appendingPathComponent("monitor.log").path
            let first = try Self.start(["monitor", "--config", config, "--state", state], env: env.merging(["LIFEBOAT_TEST_CRASH_AFTER_STEP": step]) { $1 }, log: log)
            do {
                try await waitFor("monitoring") { try Self.journal(state).contains { $0.kind == "transition discovering -> monitoring" } }
            } catch {
                Issue.record("monitor log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "none")")
                first.terminate()
                throw error
            }
            try await waitFor("standby seen") { try Self.journal(state).count >= 1 }
            try await Task.sleep(for: .milliseconds(700)) // the standby's first probes
            _ = try await cluster.kill(cluster.primary)
            try await waitFor("crash after \(step)", timeout: .seconds(30)) { !first.isRunning }
            #expect(first.terminationStatus == 70, "the monitor was killed right after \(step)")

            let second = try Self.start(["monitor", "--config", config, "--state", state], env: env, log: log)
            try await waitFor("failover complete", timeout: .seconds(30)) {
                try Self.journal(state).contains { $0.kind == "transition switching-traffic -> monitoring" }
            }
            second.terminate() // SIGTERM: graceful
            second.waitUntilExit()
            #expect(second.terminationStatus == 0, "SIGTERM stops the monitor cleanly")

            let lines = try Self.journal(state)
            #expect(lines.contains { $0.kind == "decision" && $0.message.hasPrefix("resuming after a restart at step") } || step == "switch-traffic",
                    "\(lines.map(\.message))")
            #expect(lines.filter { $0.message == "pg_promote returned true" }.count == 1, "one real promotion")
            #expect(try await SQLiteStateStore(path: state, readOnly: true).load().value == 1, "one epoch bump")
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

    static func journal(_ path: String) throws -> [SQLiteStateStore.Line] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return (try? SQLiteStateStore(path: path, readOnly: true).journal(limit: 100_000)) ?? []
    }
}

func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out waiting for \(what)")
    throw CancellationError()
}
