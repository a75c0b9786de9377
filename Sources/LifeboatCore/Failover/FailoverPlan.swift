/// Why the core refused an operator's command. The API answers 409 with `description`; nothing
/// reads the sentence back.
public enum CommandRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case noPrimaryIdentified
    case failoverRunning
    case lastFailoverFailed
    case notAStandby(node: String, primary: String)
    case ineligible(node: String, Ineligibility)
    case noCandidate(summary: String)
    case switchoverNeedsMonitoring(state: StateKind)
    case primaryNotHealthy(primary: String)
    case nothingToReset
    /// Several monitors: this one does not lead (the leader's id when known).
    case notLeading(leader: String?)

    public var description: String {
        switch self {
        case .noPrimaryIdentified: return "no primary has been identified yet (with every node a standby, name the one to promote: lifeboat failover --to NODE)"
        case .failoverRunning: return "a failover is already running"
        case .lastFailoverFailed: return "the last failover failed; reset it first"
        case .notAStandby(let node, let primary): return "\(node) is not a standby of \(primary)"
        case .ineligible(let node, let why): return "\(node): \(why)"
        case .noCandidate(let summary): return summary
        case .switchoverNeedsMonitoring(let state):
            return "a switchover needs a healthy primary being monitored (state is \(state.rawValue))"
        case .primaryNotHealthy(let primary): return "primary \(primary) is not healthy; use lifeboat failover"
        case .nothingToReset: return "nothing has failed"
        case .notLeading(let leader?): return "this monitor does not lead; ask the leading monitor, \(leader)"
        case .notLeading(nil): return "this monitor does not lead, and no monitor leads right now"
        }
    }
}

/// One step of a failover plan, in the order the workflow runs them.
public enum PlanStep: Sendable, Equatable, CustomStringConvertible {
    case bumpEpoch(to: Epoch)
    case fence(node: String, planned: Bool)
    case awaitLease(node: String)
    case catchUp(node: String, primary: String)
    case promote(node: String)
    case waitWritable(node: String)
    case repoint(nodes: [String], to: String)
    case switchTraffic(region: String)

    public var step: FailoverStep {
        switch self {
        case .bumpEpoch: return .bumpEpoch
        case .fence: return .fence
        case .awaitLease: return .awaitLease
        case .catchUp: return .catchUp
        case .promote: return .promote
        case .waitWritable: return .waitWritable
        case .repoint: return .repoint
        case .switchTraffic: return .switchTraffic
        }
    }

    public var description: String {
        switch self {
        case .bumpEpoch(let epoch): return "bump the epoch to \(epoch)"
        case .fence(let node, true): return "fence \(node): read-only and sessions terminated (it must be reachable)"
        case .fence(let node, false): return "fence \(node): read-only and sessions terminated (or recorded as unreachable)"
        case .awaitLease(let node): return "if \(node) cannot be fenced, wait until its lease runs out (it fences itself by then)"
        case .catchUp(let node, let primary): return "wait until \(node) has replayed \(primary)'s last WAL (zero data loss)"
        case .promote(let node): return "promote \(node) with pg_promote"
        case .waitWritable(let node): return "wait until \(node) accepts writes"
        case .repoint(let nodes, let primary): return "repoint \(nodes.joined(separator: ", ")) at \(primary)"
        case .switchTraffic(let region): return "switch traffic to \(region)"
        }
    }
}

/// What a failover or switchover does (or would do), read off the failover the core started.
public struct FailoverPlan: Sendable, Equatable {
    public var from: String
    public var candidate: String
    public var epoch: Epoch
    public var planned: Bool
    public var steps: [PlanStep]
    /// Bytes of WAL the candidate lacks compared with the last known primary position (zero for a
    /// switchover, which waits for the candidate to catch up).
    public var lossBytes: UInt64?

    public init<Instant>(progress p: FailoverProgress<Instant>, topology: Topology, lossBytes: UInt64?, lease: Bool = false) {
        from = p.oldPrimary
        candidate = p.candidate
        epoch = p.epoch
        planned = p.planned
        var steps: [PlanStep] = [.bumpEpoch(to: p.epoch), .fence(node: p.oldPrimary, planned: p.planned)]
        if lease, !p.planned { steps.append(.awaitLease(node: p.oldPrimary)) }
        if p.planned { steps.append(.catchUp(node: p.candidate, primary: p.oldPrimary)) }
        steps += [.promote(node: p.candidate), .waitWritable(node: p.candidate)]
        if !p.otherStandbys.isEmpty { steps.append(.repoint(nodes: p.otherStandbys, to: p.candidate)) }
        steps.append(.switchTraffic(region: topology.node(named: p.candidate)?.region ?? "?"))
        self.steps = steps
        self.lossBytes = p.planned ? 0 : lossBytes
    }
}

/// What an operator's command came to.
public enum CommandOutcome: Sendable, Equatable {
    /// A failover or switchover started (or, previewed, would start) with this plan.
    case started(FailoverPlan)
    /// Accepted; nothing to plan (pause, resume, reset).
    case done(String)
    case refused(CommandRefusal)
}

extension FailoverMachine {
    /// What `event` (an operator's command) would come to now, decided by the core's own
    /// `handle` on a copy of the machine: a dry run cannot disagree with the real command.
    public func preview(_ event: FailoverEvent, now: Instant) -> CommandOutcome {
        var copy = self
        let actions = copy.handle(event, now: now)
        return copy.outcome(of: actions)
    }

    /// Reads the typed result of a command off the actions `handle` returned for it.
    public func outcome(of actions: [FailoverAction]) -> CommandOutcome {
        for action in actions {
            if case .refused(let refusal) = action { return .refused(refusal) }
        }
        if actions.contains(where: { if case .transition(_, .bumpingEpoch, _) = $0 { return true } else { return false } }),
           case .failingOver(let p) = state {
            return .started(FailoverPlan(progress: p, topology: topology, lossBytes: lossBytes(of: p.candidate), lease: policy.leaseTTL != nil))
        }
        let said = actions.compactMap { action -> String? in
            switch action {
            case .transition(_, _, let reason): return reason
            case .decision(let text): return text
            case .refused, .leaseAnswer, .probe, .bumpEpoch, .fence, .fenceForSwitchover, .catchUp, .promote, .waitWritable, .repoint,
                 .switchTraffic, .scheduleTimer, .alert:
                return nil
            }
        }
        return .done(said.first ?? "nothing to do")
    }

    /// WAL bytes `node` lacks against the last known primary position, when both are known.
    func lossBytes(of node: String) -> UInt64? {
        guard let lsn = health[node]?.lastStatus?.durableLSN else { return nil }
        let known = topology.databaseNodes.compactMap { health[$0.name]?.lastStatus?.durableLSN }
        let reference = ([lastPrimaryLSN].compactMap { $0 } + known + [lsn]).max() ?? lsn
        return reference.bytes(after: lsn)
    }
}
