import CMariaDB
import Foundation
import LifeboatConfig
import LifeboatAgentAPI
import LifeboatCore
import LifeboatPorts
import LifeboatPostgres
import LifeboatProbes

/// One check's answer in `/healthz`.
public struct CheckReport: Sendable, Codable, Equatable {
    public var name: String
    public var type: String
    public var ok: Bool
    /// Seconds the check took.
    public var duration: Double
    public var error: String?
}

/// Runs the node's checks, all at once, each bounded by its own timeout.
public struct CheckRunner: Sendable {
    public let checks: [AgentCheck]
    let postgres: PostgresNode?
    let mysqlPasswords: [String: String]

    public init(config: AgentConfiguration, postgres: PostgresNode?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        checks = config.checks
        self.postgres = postgres
        var passwords: [String: String] = [:]
        for check in config.checks {
            if case .mysql(let target) = check.kind, let password = target.password {
                do { passwords[check.name] = try password.resolve(environment: environment).reveal() } catch {
                    throw AgentError("check '\(check.name)': \(error)")
                }
            }
        }
        mysqlPasswords = passwords
    }

    /// Every check's report, in config order, and the database role when a postgresql check ran.
    public func runAll() async -> (reports: [CheckReport], role: DatabaseRole?) {
        await withTaskGroup(of: (Int, CheckReport, DatabaseRole?).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask {
                    let (report, role) = await run(check)
                    return (index, report, role)
                }
            }
            var reports = [CheckReport?](repeating: nil, count: checks.count)
            var role: DatabaseRole?
            for await (index, report, checkRole) in group {
                reports[index] = report
                if let checkRole { role = checkRole }
            }
            return (reports.compactMap { $0 }, role)
        }
    }

    func run(_ check: AgentCheck) async -> (CheckReport, DatabaseRole?) {
        let clock = ContinuousClock()
        let start = clock.now
        let timedOut: (String?, DatabaseRole?) = ("no answer within \(check.timeout)", check.kind == .postgresql ? .unknown : nil)
        let (error, role) = await bounded(check.timeout, fallback: timedOut) { () async -> (String?, DatabaseRole?) in
            switch check.kind {
            case .postgresql:
                guard let postgres = self.postgres else { return ("no database: section", .unknown) }
                do {
                    return (nil, Agent.role(try await postgres.connectAndQuery(timeout: check.timeout)))
                } catch {
                    return ("\(error)", .unknown)
                }
            case .mysql(let target):
                return (await MySQLPing.ping(target, password: self.mysqlPasswords[check.name], timeout: check.timeout), nil)
            case .tcp(let host, let port):
                return (await TCPHealthCheck(host: host, port: port).check(timeout: check.timeout).error, nil)
            case .http(let url, let expectBody):
                let result = await HTTPHealthCheck(url: url, expectBody: expectBody).check(timeout: check.timeout)
                return (result.ok ? nil : (result.error ?? "failed"), nil)
            case .disk(let path, let minFree, let minPercent):
                return (DiskSpace.check(path: path, minFreeBytes: minFree, minFreePercent: minPercent), nil)
            case .command(let argv):
                do {
                    let outcome = try await ProcessRunner.run(argv, timeout: check.timeout)
                    return (outcome.succeeded ? nil : outcome.describe(timeout: check.timeout), nil)
                } catch {
                    return ("cannot run \(argv[0]): \(error)", nil)
                }
            }
        }
        let report = CheckReport(name: check.name, type: check.type, ok: error == nil,
                                 duration: start.duration(to: clock.now).seconds, error: error)
        return (report, role)
    }

    /// The check's own timeout, enforced here too: a check that ignores it still answers on time
    /// (the shared race that abandons a stuck body, as the PostgreSQL adapter's calls do).
    private func bounded<T: Sendable>(_ timeout: Duration, fallback: T, _ body: @escaping @Sendable () async -> T) async -> T {
        (try? await withTimeout(timeout + .milliseconds(50)) { await body() }) ?? fallback
    }
}

/// Free space on the filesystem holding a path (`statvfs`, as `df` reads it: space for unprivileged users).
enum DiskSpace {
    static func check(path: String, minFreeBytes: UInt64?, minFreePercent: Double?) -> String? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return "cannot stat \(path): \(String(cString: strerror(errno)))" }
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        let total = UInt64(stats.f_blocks) * UInt64(stats.f_frsize)
        let percent = total == 0 ? 0 : Double(free) / Double(total) * 100
        if let minFreeBytes, free < minFreeBytes {
            return "\(format(free)) free on \(path), below \(format(minFreeBytes))"
        }
        if let minFreePercent, percent < minFreePercent {
            return String(format: "%.1f%% free on %@, below %.1f%%", percent, path, minFreePercent)
        }
        return nil
    }

    static func format(_ bytes: UInt64) -> String { ByteCount(bytes).description }
}

/// MySQL/MariaDB: connect and `mysql_ping`, through Debian's libmariadb. The C client blocks, so
/// it runs on its own thread; its connect/read/write timeouts are set from the check's.
enum MySQLPing {
    private static let libraryReady: Bool = mysql_server_init(0, nil, nil) == 0

    static func ping(_ target: MySQLTarget, password: String?, timeout: Duration) async -> String? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: pingBlocking(target, password: password, timeout: timeout))
            }
        }
    }

    private static func pingBlocking(_ target: MySQLTarget, password: String?, timeout: Duration) -> String? {
        guard libraryReady else { return "libmariadb failed to initialise" }
        guard let mysql = mysql_init(nil) else { return "mysql_init failed (out of memory)" }
        defer { mysql_close(mysql) }
        var seconds = UInt32(max(1, (timeout.components.seconds) + (timeout.components.attoseconds > 0 ? 1 : 0)))
        mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &seconds)
        mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &seconds)
        mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &seconds)
        guard mysql_real_connect(mysql, target.host, target.user, password, target.database, UInt32(target.port), nil, 0) != nil else {
            return "connect to \(target.host):\(target.port) as \(target.user): \(String(cString: mysql_error(mysql)))"
        }
        guard mysql_ping(mysql) == 0 else { return "ping: \(String(cString: mysql_error(mysql)))" }
        return nil
    }
}

public struct AgentError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Agent {
    /// Checks other nodes' endpoints from this node, all at once (`/v1/actions/probe`).
    public func probe(_ order: ProbeOrder) async -> ProbeAnswer {
        let timeout = Duration.milliseconds(order.timeoutMilliseconds)
        let results = await withTaskGroup(of: (Int, ProbeAnswer.Outcome).self) { group in
            for (index, target) in order.targets.enumerated() {
                group.addTask {
                    let result: CheckResult
                    if let url = URL(string: target.url), url.scheme == "tcp", let host = url.host, let port = url.port {
                        result = await TCPHealthCheck(host: host, port: port).check(timeout: timeout)
                    } else {
                        result = await HTTPHealthCheck(url: target.url, expectBody: target.body).check(timeout: timeout)
                    }
                    return (index, ProbeAnswer.Outcome(node: target.node, ok: result.ok, detail: result.error ?? "answered"))
                }
            }
            var outcomes: [(Int, ProbeAnswer.Outcome)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return ProbeAnswer(node: config.node, results: results)
    }
}
