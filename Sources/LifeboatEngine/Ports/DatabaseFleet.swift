import LifeboatCore

/// What the old primary's fencing achieved.
public enum FenceOutcome: Sendable, Equatable {
    /// The node now refuses writes; `detail` says how.
    case fenced(detail: String)
    /// The node could not be reached, so it could not be fenced over SQL. It stays retired under
    /// the new epoch and is fenced the moment it is seen accepting writes again.
    case unreachable(reason: String)

    public var detail: String {
        switch self {
        case .fenced(let detail): return "fenced (\(detail))"
        case .unreachable(let reason): return "unreachable, not fenced over SQL (\(reason)); retired under the new epoch"
        }
    }
}

/// The database nodes the engine acts on, by name. Every call has a timeout and throws a clear error.
public protocol DatabaseFleet: Sendable {
    func probe(_ node: String, timeout: Duration) async -> ProbeResult
    func fence(_ node: String, epoch: Epoch, timeout: Duration) async throws -> FenceOutcome
    /// As `fence`, but gives up connecting after `connectTimeout`: an old primary that already
    /// failed its probes is not waited for (it stays retired under the new epoch).
    func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome
    /// Promotes a standby; succeeds without doing anything if it is already out of recovery.
    func promote(_ node: String, epoch: Epoch, timeout: Duration) async throws -> String
    /// Returns once `node` accepts writes, or throws after `timeout`.
    func waitWritable(_ node: String, timeout: Duration) async throws -> String
    /// Waits until standby `node` has replayed everything fenced `primary` has written.
    func waitCaughtUp(_ node: String, primary: String, timeout: Duration) async throws -> String
    /// Points standby `node` at `primary`.
    func repoint(_ node: String, toPrimary primary: String, timeout: Duration) async throws -> String
    func shutdown() async
}

extension DatabaseFleet {
    public func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome {
        try await fence(node, epoch: epoch, timeout: timeout)
    }
}
