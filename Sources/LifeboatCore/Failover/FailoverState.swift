/// The monitor's view of the cluster.
public enum FailoverState<Instant: InstantProtocol & Sendable>: Sendable, Equatable {
    /// No primary identified yet. Can transition to: monitoring.
    case discovering
    /// `primary` is healthy, or failing but not yet past the failure threshold.
    /// Can transition to: confirming, discovering.
    case monitoring(primary: String)
    /// The monitor's probes say `primary` is down; waiting for the standbys to corroborate
    /// (their WAL receivers lost it too). `veto` says why it is not yet corroborated.
    /// Can transition to: monitoring, holding, failing over.
    case confirming(primary: String, since: Instant, veto: String?)
    /// `primary` is down and corroborated, but a guard rail (pause, cooldown, lag, manual mode)
    /// forbids failing over. Can transition to: monitoring, confirming, failing over.
    case holding(primary: String, blocker: String)
    /// Running the failover workflow. Can transition to: the next step, monitoring (done), failed.
    case failingOver(FailoverProgress<Instant>)
    /// A step kept failing; an operator must look. Can transition to: discovering (operator reset).
    case failed(FailoverProgress<Instant>, reason: String)
    /// The new primary is promoted and writable but clients were not moved: the traffic switch
    /// kept failing. The promotion stands; the switch is retried every `trafficRetryInterval`.
    /// Can transition to: monitoring (switch succeeded), confirming (the new primary fails too).
    case trafficNotSwitched(FailoverProgress<Instant>, reason: String)

    public var kind: StateKind {
        switch self {
        case .discovering: return .discovering
        case .monitoring: return .monitoring
        case .confirming: return .confirming
        case .holding: return .holding
        case .failingOver(let progress): return progress.step.stateKind
        case .failed: return .failed
        case .trafficNotSwitched: return .trafficNotSwitched
        }
    }

    /// The node the monitor currently treats as primary, if any.
    public var primary: String? {
        switch self {
        case .discovering: return nil
        case .monitoring(let primary), .confirming(let primary, _, _), .holding(let primary, _): return primary
        case .failingOver(let progress), .failed(let progress, _): return progress.oldPrimary
        case .trafficNotSwitched(let progress, _): return progress.candidate
        }
    }
}

/// The named states of the transition table (`lifeboat fsm --dot`).
public enum StateKind: String, Sendable, Equatable, CaseIterable {
    case discovering
    case monitoring
    case confirming
    case holding
    case bumpingEpoch = "bumping-epoch"
    case fencing
    case awaitingLease = "awaiting-lease"
    case catchingUp = "catching-up"
    case promoting
    case waitingWritable = "waiting-writable"
    case repointing
    case switchingTraffic = "switching-traffic"
    case failed
    case trafficNotSwitched = "promoted-traffic-not-switched"
}
