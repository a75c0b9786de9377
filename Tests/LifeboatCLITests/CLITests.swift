import Foundation
import Testing

/// Runs the built `lifeboat` binary as a user would.
struct CLI {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lifeboat")
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs the binary to its end on a Dispatch thread: waiting for a child must not hold one of
    /// the few threads every async test shares (two such waits would stall the whole suite).
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, environment: environment) })
            }
        }
    }

    static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct ValidateCommandTests {
    @Test func validExampleExitsZeroWithASummary() async throws {
        let example = CLI.packageRoot.appendingPathComponent("examples/lifeboat.yml").path
        let result = try await CLI.run(["validate", example], environment: ["LIFEBOAT_PG_PASSWORD": "x", "LINODE_TOKEN": "x", "LIFEBOAT_API_TOKEN": "x",
                                                                    "SLACK_WEBHOOK_URL": "x", "LIFEBOAT_AGENT_KEY": "x"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("\(example): valid: cluster shop: 2 regions (us-east, eu-west), 2 database nodes"))
        #expect(result.stderr.isEmpty)
    }

    @Test func everyMistakeIsListedWithLineAndColumnAndExitOne() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-cli-\(UUID()).yml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
        regions:
          - name: us-east
          - name: eu-west
        database:
          password: hunter2
          nodes:
            - name: pg-a
              region: us-east
              host: 10.0.0.1
            - name: pg-a
              region: eu-wets
              host: 10.0.0.2
        detection:
          intervall: 1s
          timeout: 5x
        """.write(to: file, atomically: true, encoding: .utf8)
        let result = try await CLI.run(["validate", file.path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 7, "\(lines)")
        let path = file.path
        #expect(lines.contains("\(path):5:3: warning: database.password: inline password: anyone who can read this file can read it; use password_env or password_file"))
        #expect(lines.contains("\(path):11:15: error: database.nodes[1].region: region 'eu-wets' is not defined under regions (defined: us-east, eu-west); did you mean 'eu-west'?"))
        #expect(lines.contains("\(path):10:13: error: database.nodes[1].name: duplicate node name 'pg-a' (first defined at database.nodes[0].name)"))
        #expect(lines.contains("\(path):14:3: error: detection.intervall: unknown key 'intervall'; did you mean 'interval'?"))
        #expect(lines.contains("\(path):15:12: error: detection.timeout: expected a duration such as 500ms, 5s, 2m or 1h, found '5x'"))
        #expect(lines.contains("\(path):3:5: error: regions[1]: region 'eu-west' has no database node; every region needs one to fail over to"))
        #expect(lines.last == "\(path): 5 errors, 1 warning")
        #expect(!result.stderr.contains("hunter2"), "secrets never appear in output")
        #expect(result.stdout.isEmpty)
    }

    @Test func missingFileIsAClearError() async throws {
        let result = try await CLI.run(["validate", "/nonexistent/lifeboat.yml"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent/lifeboat.yml:0:0: error: no such file"))
    }
}

@Suite struct OperatorCommandErrorTests {
    @Test func anUnreachableMonitorIsAClearError() async throws {
        let result = try await CLI.run(["status", "--api", "http://127.0.0.1:9"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot reach the monitor at http://127.0.0.1:9"))
        #expect(result.stderr.contains("Is `lifeboat monitor` running, and is --api right"))
    }
}

@Suite struct FSMCommandTests {
    @Test func dotOutputIsAGraph() async throws {
        let result = try await CLI.run(["fsm", "--dot"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("digraph lifeboat_failover {"))
        #expect(result.stdout.contains("\"switching-traffic\" -> \"monitoring\""))
    }

    @Test func plainTableListsTransitions() async throws {
        let result = try await CLI.run(["fsm"])
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("confirming -> bumping-epoch failure corroborated by the standbys; candidate chosen"))
        #expect(lines.contains("switching-traffic -> promoted-traffic-not-switched traffic switch kept failing; the promotion stands"))
    }
}

@Suite struct DrillCommandTests {
    @Test func drillWithoutSandboxExplainsItself() async throws {
        let result = try await CLI.run(["drill"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("choose the kind of drill: --sandbox (local regions built for it) or --staging --config FILE --confirm CLUSTER"))
        let staging = try await CLI.run(["drill", "--staging"])
        #expect(staging.status != 0 && staging.stderr.contains("--staging needs --config FILE"), "\(staging.stderr)")
        let both = try await CLI.run(["drill", "--staging", "--sandbox", "--config", "x.yml"])
        #expect(both.status != 0 && both.stderr.contains("--sandbox and --staging exclude each other"))
        let mixed = try await CLI.run(["drill", "--staging", "--config", "x.yml", "--runs", "3"])
        #expect(mixed.status != 0 && mixed.stderr.contains("are for --sandbox"))
    }

    @Test func helpDescribesTheDrill() async throws {
        let result = try await CLI.run(["drill", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--sandbox builds two regions on this machine"))
        #expect(result.stdout.contains("--runs <runs>"))
    }
}
