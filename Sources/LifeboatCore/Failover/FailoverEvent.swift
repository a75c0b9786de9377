/// Everything the core reacts to. Results of actions come back as events.
public enum FailoverEvent: Sendable, Equatable {
    case probed(node: String, result: ProbeResult)
    /// A workflow step finished; `node` names the standby for `.repoint`.
    case stepSucceeded(FailoverStep, node: String?, detail: String)
    case stepFailed(FailoverStep, node: String?, error: StepError)
    case timerFired(TimerID)
    case pause(by: String)
    case resume(by: String)
    /// `lifeboat failover [--to NODE]`: bypasses automatic mode, pause and cooldown, never health.
    case operatorFailover(to: String?, by: String)
    /// `lifeboat switchover [--to NODE]`: planned, zero data loss; needs a healthy primary.
    case operatorSwitchover(to: String?, by: String)
    /// After `failed`: the operator has looked; rediscover the cluster.
    case operatorReset(by: String)
    /// The old primary could not be fenced (unreachable): it is retired, but whether it still takes
    /// writes is known only from its lease.
    case fenceUnconfirmed(node: String, detail: String)
    /// The primary's agent asks to renew (or gives up) the primary's lease.
    case lease(LeaseRequest)
    /// What a standby's agent said about the failsafe promise it holds (failsafe mode): `holder`'s
    /// agent asked it, for `remaining` more, not to let itself be promoted. `holder` nil: none held.
    case failsafePromise(node: String, holder: String?, remaining: Duration)
    /// A region's application tier as the monitor and other regions' agents see it
    /// (`failover.trigger: region` acts on it).
    case appTier(region: String, verdict: AppTierVerdict)
}

public enum TimerID: Hashable, Sendable {
    case retry(FailoverStep)
    /// The primary's lease runs out now: re-decide.
    case leaseExpiry
}

extension FailoverEvent {
    /// The event with the text an operator's request supplied (`by`, a target node) made safe for
    /// log lines and the journal (`LogSafe`). Other events carry only what the monitor produced.
    public func escaped() -> FailoverEvent {
        switch self {
        case .pause(let by): return .pause(by: LogSafe.escape(by))
        case .resume(let by): return .resume(by: LogSafe.escape(by))
        case .operatorFailover(let to, let by): return .operatorFailover(to: to.map { LogSafe.escape($0) }, by: LogSafe.escape(by))
        case .operatorSwitchover(let to, let by): return .operatorSwitchover(to: to.map { LogSafe.escape($0) }, by: LogSafe.escape(by))
        case .operatorReset(let by): return .operatorReset(by: LogSafe.escape(by))
        case .probed, .stepSucceeded, .stepFailed, .timerFired, .fenceUnconfirmed, .lease, .failsafePromise, .appTier: return self
        }
    }

    /// Asked for by an operator (journaled as such, answered with a `CommandOutcome`).
    public var isOperatorCommand: Bool {
        switch self {
        case .pause, .resume, .operatorFailover, .operatorSwitchover, .operatorReset: return true
        case .probed, .stepSucceeded, .stepFailed, .timerFired, .fenceUnconfirmed, .lease, .failsafePromise, .appTier: return false
        }
    }
}
