/// What a failover would do now, for `lifeboat failover --dry-run` and the API.
public struct FailoverPlan: Sendable, Equatable {
    public var from: String?
    public var candidate: String?
    /// Why no failover would happen, if none would.
    public var refusal: String?
    /// The steps in order, in words.
    public var steps: [String]
    /// Bytes of WAL the candidate lacks compared with the last known primary position.
    public var lossBytes: UInt64?
    public var assessments: [CandidateAssessment]
}

extension FailoverMachine {
    /// The plan `operatorFailover(to:)` would follow, without changing anything.
    public func failoverPlan(to target: String?) -> FailoverPlan {
        guard let primary = state.primary else {
            return FailoverPlan(from: nil, candidate: nil, refusal: "no primary has been identified yet", steps: [], lossBytes: nil, assessments: [])
        }
        switch state {
        case .failingOver: return FailoverPlan(from: primary, candidate: nil, refusal: "a failover is already running", steps: [], lossBytes: nil, assessments: [])
        case .failed: return FailoverPlan(from: primary, candidate: nil, refusal: "the last failover failed; reset it first", steps: [], lossBytes: nil, assessments: [])
        case .discovering, .monitoring, .confirming, .holding, .trafficNotSwitched: break
        }
        let choice = CandidateSelection.choose(among: standbys(excluding: primary), health: health, lastPrimaryLSN: lastPrimaryLSN,
                                               topology: topology, policy: policy, enforceLagLimits: false)
        var chosen = choice.chosen
        if let target {
            guard let assessment = choice.assessments.first(where: { $0.node == target }) else {
                return FailoverPlan(from: primary, candidate: nil, refusal: "\(target) is not a standby of \(primary)", steps: [], lossBytes: nil, assessments: choice.assessments)
            }
            if let why = assessment.ineligibleBecause {
                return FailoverPlan(from: primary, candidate: nil, refusal: "\(target): \(why)", steps: [], lossBytes: nil, assessments: choice.assessments)
            }
            chosen = assessment
        }
        guard let chosen else {
            return FailoverPlan(from: primary, candidate: nil, refusal: choice.summary, steps: [], lossBytes: nil, assessments: choice.assessments)
        }
        let others = standbys(excluding: primary).filter { $0 != chosen.node }
        let region = topology.node(named: chosen.node)?.region ?? "?"
        var steps = [
            "bump the epoch to \(epoch.next)",
            "fence \(primary): read-only and sessions terminated (or recorded as unreachable)",
            "promote \(chosen.node) with pg_promote",
            "wait until \(chosen.node) accepts writes",
        ]
        if !others.isEmpty { steps.append("repoint \(others.joined(separator: ", ")) at \(chosen.node)") }
        steps.append("switch traffic to \(region)")
        return FailoverPlan(from: primary, candidate: chosen.node, refusal: nil, steps: steps, lossBytes: chosen.lagBytes, assessments: choice.assessments)
    }
}
