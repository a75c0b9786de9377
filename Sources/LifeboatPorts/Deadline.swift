import LifeboatCore
import Synchronization

/// A call that did not finish before its deadline.
public struct TimeoutError: Error, CustomStringConvertible, Sendable, Equatable {
    public var after: Duration
    public init(after: Duration) { self.after = after }
    public var description: String { "no answer within \(DurationText.format(after))" }
}

/// Runs `body`, throwing `TimeoutError` if it takes longer than `timeout` on `clock`, and
/// `CancellationError` as soon as the calling task is cancelled. Either way `onAbandon` runs, so
/// the caller can close the connection the body is stuck on, and the body's task is cancelled.
///
/// Deliberately not a task group: a group waits for every child, and a postgres-nio query whose
/// server died mid-statement can stay suspended even after its connection is closed (seen in
/// drills: SIGKILL of the primary while an INSERT was in flight). Such a body is abandoned.
public func withDeadline<C: Clock, T: Sendable>(
    _ timeout: Duration,
    clock: C,
    onAbandon: @escaping @Sendable () async -> Void = {},
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T where C.Duration == Duration {
    let outcome = Outcome<T>()
    let tasks = TaskBag()
    defer { tasks.cancelAll() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.install(continuation)
            tasks.add(Task {
                do {
                    let value = try await body()
                    outcome.resolve(.success(value))
                } catch {
                    outcome.resolve(.failure(error))
                }
            })
            tasks.add(Task {
                try? await clock.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                if outcome.claim() {
                    await onAbandon()
                    outcome.resolve(.failure(TimeoutError(after: timeout)), claimed: true)
                }
            })
        }
    } onCancel: {
        if outcome.claim() {
            tasks.cancelAll()
            Task { await onAbandon() }
            outcome.resolve(.failure(CancellationError()), claimed: true)
        }
    }
}

/// The one result of a `withDeadline` call, whichever comes first (the body, the deadline, the
/// caller's cancellation) and in whatever order the continuation is installed.
final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var claimed = false
        var resumed = false
    }
    private let state = Mutex(State())

    /// Reserves the right to resolve (a deadline or a cancellation that first cleans up).
    func claim() -> Bool {
        state.withLock { s in
            if s.claimed { return false }
            s.claimed = true
            return true
        }
    }

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = state.withLock { s in
            if let result = s.result, !s.resumed {
                s.resumed = true
                return result
            }
            s.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    func resolve(_ result: Result<T, any Error>, claimed: Bool = false) {
        let (continuation, value): (CheckedContinuation<T, any Error>?, Result<T, any Error>?) = state.withLock { s in
            if !claimed {
                if s.claimed { return (nil, nil) }
                s.claimed = true
            }
            guard s.result == nil else { return (nil, nil) }
            s.result = result
            guard let continuation = s.continuation, !s.resumed else { return (nil, nil) }
            s.resumed = true
            return (continuation, result)
        }
        if let continuation, let value { continuation.resume(with: value) }
    }
}

/// `withDeadline` on the continuous clock.
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    onAbandon: @escaping @Sendable () async -> Void = {},
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withDeadline(timeout, clock: ContinuousClock(), onAbandon: onAbandon, body)
}

final class TaskBag: Sendable {
    private let tasks = Mutex<(list: [Task<Void, Never>], cancelled: Bool)>(([], false))
    func add(_ task: Task<Void, Never>) {
        let cancelNow = tasks.withLock { state -> Bool in
            state.list.append(task)
            return state.cancelled
        }
        if cancelNow { task.cancel() }
    }
    func cancelAll() {
        let list = tasks.withLock { state -> [Task<Void, Never>] in
            state.cancelled = true
            return state.list
        }
        list.forEach { $0.cancel() }
    }
}
