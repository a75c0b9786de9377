/// Everything the core reacts to. Results of actions come back as events.
public enum FailoverEvent: Sendable, Equatable {
    case probed(node: String, result: ProbeResult)
    /// A workflow step finished; `node` names the standby for `.repoint`.
    case stepSucceeded(FailoverStep, node: String?, detail: String)
    case stepFailed(FailoverStep, node: String?, error: String)
    case timerFired(TimerID)
    case pause(by: String)
    case resume(by: String)
    /// `lifeboat failover [--to NODE]`: bypasses automatic mode, pause and cooldown, never health.
    case operatorFailover(to: String?, by: String)
    /// `lifeboat switchover [--to NODE]`: planned, zero data loss; needs a healthy primary.
    case operatorSwitchover(to: String?, by: String)
    /// After `failed`: the operator has looked; rediscover the cluster.
    case operatorReset(by: String)
}

public enum TimerID: Hashable, Sendable {
    case retry(FailoverStep)
}
