/// The workflow steps of a failover, in order. Each step's outcome comes back as an event.
public enum FailoverStep: String, Sendable, Equatable, CaseIterable, Codable {
    case bumpEpoch = "bump-epoch"
    case fence
    /// The old primary could not be fenced: wait until its lease runs out (it fences itself by then).
    case awaitLease = "await-lease"
    /// Switchover only: wait until the candidate has replayed the fenced primary's last WAL.
    case catchUp = "catch-up"
    case promote
    case waitWritable = "wait-writable"
    case repoint
    case switchTraffic = "switch-traffic"

    /// The state the machine is in while this step runs.
    public var stateKind: StateKind {
        switch self {
        case .bumpEpoch: return .bumpingEpoch
        case .fence: return .fencing
        case .awaitLease: return .awaitingLease
        case .catchUp: return .catchingUp
        case .promote: return .promoting
        case .waitWritable: return .waitingWritable
        case .repoint: return .repointing
        case .switchTraffic: return .switchingTraffic
        }
    }
}

/// A failover in flight.
public struct FailoverProgress<Instant: InstantProtocol & Sendable>: Sendable, Equatable {
    public var oldPrimary: String
    public var candidate: String
    /// The epoch this failover runs under (already stored once `step` is past `.bumpEpoch`).
    public var epoch: Epoch
    public var step: FailoverStep
    /// 1 for the first try of `step`.
    public var attempt: Int
    public var startedAt: Instant
    /// Standbys not yet repointed at the candidate.
    public var pendingRepoints: [String]
    /// Standbys to repoint once the candidate accepts writes.
    public var otherStandbys: [String]
    /// Asked for by an operator rather than decided by the monitor.
    public var manual: Bool
    /// A planned switchover: the old primary must be fenced for real and the candidate must
    /// catch up before promotion (zero data loss).
    public var planned: Bool = false
    /// Why the failover started.
    public var reason: String

    public init(oldPrimary: String, candidate: String, epoch: Epoch, step: FailoverStep, attempt: Int, startedAt: Instant,
                pendingRepoints: [String], otherStandbys: [String], manual: Bool, planned: Bool = false, reason: String) {
        self.oldPrimary = oldPrimary
        self.candidate = candidate
        self.epoch = epoch
        self.step = step
        self.attempt = attempt
        self.startedAt = startedAt
        self.pendingRepoints = pendingRepoints
        self.otherStandbys = otherStandbys
        self.manual = manual
        self.planned = planned
        self.reason = reason
    }
}
