import LifeboatCore

/// What the old primary's fencing achieved.
public enum FenceOutcome: Sendable, Equatable {
    /// The node now refuses writes; `detail` says how.
    case fenced(detail: String)
    /// The node could not be reached, so it could not be fenced. It stays retired under the new
    /// epoch and is fenced the moment it is seen accepting writes again.
    case unreachable(ProbeFailure)

    public var detail: String {
        switch self {
        case .fenced(let detail): return "fenced (\(detail))"
        case .unreachable(let failure): return "unreachable, not fenced over SQL (\(failure.detail)); retired under the new epoch"
        }
    }
}

/// The database nodes the engine acts on, by name. Every call takes a timeout, which the engine
/// also enforces itself (an adapter that overruns is abandoned and the step fails).
public protocol DatabaseFleet: Sendable {
    func probe(_ node: String, timeout: Duration) async -> ProbeResult
    /// Makes `node` refuse writes. Gives up connecting after `connectTimeout`: an old primary that
    /// already failed its probes is not waited for (it stays retired under the new epoch).
    func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome
    /// Promotes a standby; succeeds without doing anything if it is already out of recovery.
    func promote(_ node: String, epoch: Epoch, timeout: Duration) async throws -> String
    /// Returns once `node` accepts writes, or throws after `timeout`.
    func waitWritable(_ node: String, timeout: Duration) async throws -> String
    /// Waits until standby `node` has replayed everything fenced `primary` has written (in a
    /// switchover under `epoch`).
    func waitCaughtUp(_ node: String, primary: String, epoch: Epoch, timeout: Duration) async throws -> String
    /// Points standby `node` at `primary`.
    func repoint(_ node: String, toPrimary primary: String, timeout: Duration) async throws -> String
    func shutdown() async
}

extension DatabaseFleet {
    /// Fencing with the whole timeout for connecting too (a live primary, a switchover).
    public func fence(_ node: String, epoch: Epoch, timeout: Duration) async throws -> FenceOutcome {
        try await fence(node, epoch: epoch, timeout: timeout, connectTimeout: timeout)
    }
}

/// A fleet that changes some actions (fencing, promotion) and passes every other one to `base`.
public protocol FleetDecorator: DatabaseFleet {
    var base: any DatabaseFleet { get }
}

extension FleetDecorator {
    public func probe(_ node: String, timeout: Duration) async -> ProbeResult { await base.probe(node, timeout: timeout) }
    public func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome {
        try await base.fence(node, epoch: epoch, timeout: timeout, connectTimeout: connectTimeout)
    }
    public func promote(_ node: String, epoch: Epoch, timeout: Duration) async throws -> String { try await base.promote(node, epoch: epoch, timeout: timeout) }
    public func waitWritable(_ node: String, timeout: Duration) async throws -> String { try await base.waitWritable(node, timeout: timeout) }
    public func waitCaughtUp(_ node: String, primary: String, epoch: Epoch, timeout: Duration) async throws -> String {
        try await base.waitCaughtUp(node, primary: primary, epoch: epoch, timeout: timeout)
    }
    public func repoint(_ node: String, toPrimary primary: String, timeout: Duration) async throws -> String {
        try await base.repoint(node, toPrimary: primary, timeout: timeout)
    }
    public func shutdown() async { await base.shutdown() }
}

/// Hard fencing: the machine a node runs on, powered off through its provider's API.
public protocol PowerSwitch: Sendable {
    /// Whether `node` has a machine this switch can power off.
    func covers(_ node: String) -> Bool
    /// Asks for `node`'s machine to be powered off and waits up to `wait` until it is off.
    func powerOff(_ node: String, wait: Duration) async throws -> PowerOffOutcome
}

public enum PowerOffOutcome: Sendable, Equatable {
    /// The machine is off: nothing on it takes writes.
    case off(detail: String)
    /// Asked for, but not (yet) seen off within the wait.
    case requested(detail: String)
}

/// An error an adapter throws that already knows how the core should read it.
public protocol ClassifiedFailure: Error, CustomStringConvertible {
    var failureKind: StepError.Kind { get }
}

extension StepError {
    /// How the core reads an error an adapter threw.
    public init(classifying error: any Error) {
        switch error {
        case let own as StepError: self = own
        case let timeout as TimeoutError: self.init(.timedOut(after: timeout.after), timeout.description)
        case let conflict as EpochConflict: self.init(.epochConflict(stored: conflict.stored), conflict.description)
        case let classified as any ClassifiedFailure: self.init(classified.failureKind, classified.description)
        case is CancellationError: self.init(.failed, "cancelled")
        default: self.init(.failed, "\(error)")
        }
    }
}
