public enum AlertSeverity: String, Sendable, Equatable {
    case info, warning, critical
}

/// What the engine must do. The core never does I/O itself.
public enum FailoverAction: Sendable, Equatable {
    /// Log and journal a state change.
    case transition(from: StateKind, to: StateKind, reason: String)
    /// Log and journal a decision that does not change state (a veto, a refusal, a blocker update).
    case decision(String)
    /// An operator's command was refused; the engine journals it and answers the operator.
    case refused(CommandRefusal)
    /// The answer to a lease request; the engine sends it back to the agent.
    case leaseAnswer(LeaseAnswer)
    /// Probe these nodes after `after` instead of waiting for their interval.
    case probe(nodes: [String], after: Duration)
    /// Store `to` in the epoch store if it still holds `from` (compare-and-swap), before any side
    /// effect of the failover.
    case bumpEpoch(from: Epoch, to: Epoch)
    /// Make `node` refuse writes (or confirm it cannot be reached).
    case fence(node: String, epoch: Epoch)
    /// Switchover: make `node` refuse writes; unreachable is a failure here.
    case fenceForSwitchover(node: String, epoch: Epoch)
    /// Switchover: wait until `node` has replayed everything `primary` wrote.
    case catchUp(node: String, primary: String, epoch: Epoch)
    case promote(node: String, epoch: Epoch)
    /// Wait until `node` accepts writes.
    case waitWritable(node: String, epoch: Epoch)
    /// Point standby `node`'s replication at `primary`.
    case repoint(node: String, primary: String, epoch: Epoch)
    /// Move client traffic from `fromRegion` (where we believe it points) to `region`, where
    /// `node` now is primary.
    case switchTraffic(region: String, fromRegion: String, node: String, epoch: Epoch)
    case scheduleTimer(TimerID, after: Duration)
    case alert(AlertSeverity, String)
}
