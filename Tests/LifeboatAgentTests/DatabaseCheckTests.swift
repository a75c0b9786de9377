import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// A real MariaDB server (Debian's mariadb-server) on a loopback port, for the mysql check.
final class MariaDBServer: Sendable {
    let port: Int
    let directory: String
    let process: Process

    init(port: Int, directory: String, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    static func start() async throws -> MariaDBServer {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/mariadbd") else {
            throw AgentError("mariadbd not found: apt-get install mariadb-server (scripts/test installs it)")
        }
        let directory = try temporaryDirectory("mariadb")
        let port = try FreePort.find()
        let user = geteuid() == 0 ? ["--user=root"] : []
        let install = try await ProcessRunner.run(["/usr/bin/mariadb-install-db", "--no-defaults", "--datadir=\(directory)/data",
                                                   "--auth-root-authentication-method=normal", "--skip-test-db"] + user, timeout: .seconds(60))
        guard install.succeeded else { throw AgentError("mariadb-install-db: \(install.describe(timeout: .seconds(60)))") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mariadbd")
        process.arguments = ["--no-defaults", "--datadir=\(directory)/data", "--port=\(port)", "--bind-address=127.0.0.1",
                             "--socket=\(directory)/mysql.sock", "--pid-file=\(directory)/mariadb.pid",
                             "--log-error=\(directory)/error.log", "--innodb-buffer-pool-size=16M"] + user
        try process.run()
        let server = MariaDBServer(port: port, directory: directory, process: process)
        try await waitFor("MariaDB to accept connections", timeout: .seconds(30)) {
            try await server.sql("SELECT 1").succeeded
        }
        let created = try await server.sql("CREATE USER 'lifeboat'@'127.0.0.1' IDENTIFIED BY 'right-password'")
        guard created.succeeded else { throw AgentError("create user: \(created.describe(timeout: .seconds(10)))") }
        return server
    }

    func sql(_ statement: String) async throws -> ProcessOutcome {
        try await ProcessRunner.run(["/usr/bin/mariadb", "--no-defaults", "-uroot", "-S", "\(directory)/mysql.sock", "-e", statement], timeout: .seconds(10))
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized) struct DatabaseCheckTests {
    @Test func theMySQLCheckConnectsAndPingsARealMariaDB() async throws {
        let server = try await MariaDBServer.start()
        defer { server.stop() }
        func check(_ password: String, timeout: Duration = .seconds(10)) -> AgentCheck {
            AgentCheck(name: "mariadb", timeout: timeout, kind: .mysql(MySQLTarget(host: "127.0.0.1", port: server.port, user: "lifeboat",
                                                                                  password: .inline(.init(password)))))
        }
        let good = try Agent(config: agentConfig(node: "db-1", region: "us-east", checks: [check("right-password")], cache: .zero), logger: testLogger())
        let healthy = await good.health()
        #expect(healthy.ok, "\(healthy.checks)")

        let bad = try Agent(config: agentConfig(node: "db-1", region: "us-east", checks: [check("wrong-password")], cache: .zero), logger: testLogger())
        let refused = await bad.health()
        #expect(!refused.ok)
        let error = try #require(refused.checks.first?.error)
        #expect(error.contains("Access denied"), "\(error)")
        #expect(!error.contains("wrong-password"), "the password never appears in a report")

        server.stop()
        let started = ContinuousClock.now
        let down = await good.health()
        #expect(!down.ok)
        #expect(down.checks.first?.error?.contains("connect to 127.0.0.1:\(server.port)") == true, "\(down.checks)")
        #expect(started.duration(to: .now) < .seconds(15), "refused at once, and bounded by the check's 10 s timeout")
    }

    @Test func theCHealthcheckExampleBuildsAndWorksAsACommandCheck() async throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/c-healthcheck/healthcheck.c").standardized.path
        let build = try temporaryDirectory("c-healthcheck")
        defer { try? FileManager.default.removeItem(atPath: build) }
        let binary = "\(build)/healthcheck"
        let compiled = try await ProcessRunner.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-I/usr/include/postgresql", "-o", binary, source, "-lpq"],
                                                   timeout: .seconds(60))
        #expect(compiled.succeeded, "\(compiled.describe(timeout: .seconds(60)))")
        try #require(compiled.succeeded)

        try await withSandboxCluster { cluster in
            let primary = cluster.primary, standby = cluster.standbys[0]
            func conninfo(_ node: SandboxNode) -> String { "host=\(node.address) port=\(node.port) user=postgres dbname=postgres" }
            let agent = try Agent(config: agentConfig(node: primary.name, region: primary.region, checks: [
                AgentCheck(name: "c-primary", timeout: .seconds(15), kind: .command([binary, "-w", conninfo(primary)])),
                AgentCheck(name: "c-standby-any", timeout: .seconds(15), kind: .command([binary, conninfo(standby)])),
                AgentCheck(name: "c-standby-writable", timeout: .seconds(15), kind: .command([binary, "-w", conninfo(standby)])),
            ], cache: .zero), logger: testLogger())
            let first = await agent.health()
            let byName = Dictionary(uniqueKeysWithValues: first.checks.map { ($0.name, $0) })
            #expect(byName["c-primary"]?.ok == true, "\(first.checks)")
            #expect(byName["c-standby-any"]?.ok == true)
            #expect(byName["c-standby-writable"]?.ok == false)
            #expect(byName["c-standby-writable"]?.error?.contains("does not accept writes (standby)") == true, "\(first.checks)")

            _ = try await cluster.kill(primary)
            let afterKill = await agent.health()
            #expect(afterKill.checks.first { $0.name == "c-primary" }?.error?.contains("cannot connect") == true, "\(afterKill.checks)")
            #expect(!afterKill.ok)
        }
    }
}
