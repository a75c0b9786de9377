import PostgresNIO
import Synchronization

/// A PostgreSQL failure in words an operator can act on, naming the node and the operation.
public struct PostgresNodeError: Error, CustomStringConvertible, Sendable {
    public var node: String
    public var operation: String
    public var reason: String

    public var description: String { "\(node): \(operation): \(reason)" }

    static func wrap(_ error: any Error, node: String, operation: String) -> PostgresNodeError {
        if let own = error as? PostgresNodeError { return own }
        return PostgresNodeError(node: node, operation: operation, reason: describe(error))
    }

    /// postgres-nio hides server messages from `description` to avoid leaking data; pull the
    /// server's message and SQLSTATE, or the underlying connection error, back out.
    static func describe(_ error: any Error) -> String {
        if let timeout = error as? TimeoutError { return timeout.description }
        guard let psql = error as? PSQLError else { return "\(error)" }
        if let info = psql.serverInfo, let message = info[.message] {
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return "server said: \(message)\(state)"
        }
        if let underlying = psql.underlying { return connectionProblem("\(underlying)") ?? "\(psql.code): \(underlying)" }
        return "\(psql.code)"
    }
}

/// NIO's connection errors nest the errno text deep inside; operators need the errno text.
func connectionProblem(_ text: String) -> String? {
    for (needle, words) in [
        ("Connection refused", "connection refused"), ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"), ("connectTimeout", "connect timed out"), ("Connect timeout", "connect timed out"),
        ("Connection reset by peer", "connection reset by peer"), ("Host is down", "host is down"),
    ] where text.contains(needle) {
        return words
    }
    return nil
}

public struct TimeoutError: Error, CustomStringConvertible, Sendable {
    public var after: Duration
    public var description: String { "no answer within \(Self.format(after))" }

    static func format(_ d: Duration) -> String {
        let ms = Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
        return ms < 1000 ? "\(ms)ms" : "\(Double(ms) / 1000)s"
    }
}

/// Runs `body`, throwing `TimeoutError` if it takes longer than `timeout`; `onTimeout` then runs
/// so the caller can close the connection the body is stuck on.
///
/// Deliberately not a task group: a group waits for every child, and a postgres-nio query whose
/// server died mid-statement can stay suspended even after its connection is closed (seen in
/// drills: SIGKILL of the primary while an INSERT was in flight). Such a body is abandoned.
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    onTimeout: @escaping @Sendable () async -> Void = {},
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = Once()
    let tasks = TaskBag()
    defer { tasks.cancelAll() }
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        tasks.add(Task {
            do {
                let value = try await body()
                if once.claim() { continuation.resume(returning: value) }
            } catch {
                if once.claim() { continuation.resume(throwing: error) }
            }
        })
        tasks.add(Task {
            try? await Task.sleep(for: timeout)
            if once.claim() {
                await onTimeout()
                continuation.resume(throwing: TimeoutError(after: timeout))
            }
        })
    }
}

/// True for the first caller of `claim()` only.
final class Once: Sendable {
    private let done = Mutex(false)
    func claim() -> Bool { done.withLock { done in defer { done = true }; return !done } }
}

final class TaskBag: Sendable {
    private let tasks = Mutex<[Task<Void, Never>]>([])
    func add(_ task: Task<Void, Never>) { tasks.withLock { $0.append(task) } }
    func cancelAll() { tasks.withLock { $0.forEach { $0.cancel() } } }
}
