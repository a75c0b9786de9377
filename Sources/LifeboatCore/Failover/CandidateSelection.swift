/// How one standby fared as a promotion candidate.
public struct CandidateAssessment: Sendable, Equatable {
    public var node: String
    public var lsn: LSN?
    public var lagBytes: UInt64?
    public var lagSeconds: Duration?
    public var priority: Int
    /// Nil when eligible; otherwise why not.
    public var ineligibleBecause: String?
}

public struct CandidateChoice: Sendable, Equatable {
    public var chosen: CandidateAssessment?
    public var assessments: [CandidateAssessment]
    /// Every healthy candidate exists but is over a lag limit.
    public var allOverLagLimit: Bool

    /// A sentence for the journal.
    public var summary: String {
        if let chosen {
            var text = "chose \(chosen.node)"
            if let lsn = chosen.lsn { text += " (LSN \(lsn)" + (chosen.lagBytes.map { ", \($0) bytes behind" } ?? "") + ")" }
            let others = assessments.filter { $0.node != chosen.node }
            if !others.isEmpty {
                text += "; " + others.map { "\($0.node): \($0.ineligibleBecause ?? "eligible, lower rank")" }.joined(separator: "; ")
            }
            return text
        }
        if assessments.isEmpty { return "no standby to promote" }
        return "no eligible standby: " + assessments.map { "\($0.node): \($0.ineligibleBecause ?? "?")" }.joined(separator: "; ")
    }
}

/// Picks the standby to promote: healthy, in recovery, within the lag limits; then the highest
/// LSN, then the preferred region, then the name (so the choice is deterministic).
public enum CandidateSelection {
    public static func choose<Instant>(
        among standbys: [String],
        health: [String: NodeHealth<Instant>],
        lastPrimaryLSN: LSN?,
        topology: Topology,
        policy: FailoverPolicy,
        enforceLagLimits: Bool = true
    ) -> CandidateChoice {
        let knownLSNs = standbys.compactMap { health[$0]?.lastStatus?.durableLSN }
        let reference = ([lastPrimaryLSN].compactMap { $0} + knownLSNs).max()

        var assessments: [CandidateAssessment] = []
        for name in standbys {
            let nodeHealth = health[name]
            let status = nodeHealth?.currentStatus
            let lsn = status?.durableLSN
            var assessment = CandidateAssessment(
                node: name, lsn: lsn,
                lagBytes: lsn.flatMap { lsn in reference.map { $0.bytes(after: lsn) } },
                lagSeconds: status?.replayLag,
                priority: topology.priority(ofNode: name), ineligibleBecause: nil
            )
            if nodeHealth?.verdict != .healthy {
                assessment.ineligibleBecause = "unhealthy (\(nodeHealth?.verdict.rawValue ?? "unknown"))"
            } else if status == nil {
                assessment.ineligibleBecause = "unreachable on its latest probe"
            } else if status?.inRecovery == false {
                assessment.ineligibleBecause = "not a standby"
            } else if lsn == nil {
                assessment.ineligibleBecause = "reports no WAL position"
            } else if enforceLagLimits, let bytes = assessment.lagBytes, bytes > policy.maxLagBytes {
                assessment.ineligibleBecause = "\(bytes) bytes behind, over max_lag_bytes \(policy.maxLagBytes)"
            } else if enforceLagLimits, let seconds = assessment.lagSeconds, seconds > policy.maxLagSeconds {
                assessment.ineligibleBecause = "replay \(DurationText.format(seconds)) behind, over max_lag_seconds \(DurationText.format(policy.maxLagSeconds))"
            }
            assessments.append(assessment)
        }

        let eligible = assessments.filter { $0.ineligibleBecause == nil }.sorted { a, b in
            if a.lsn != b.lsn { return (a.lsn ?? LSN(0)) > (b.lsn ?? LSN(0)) }
            if a.priority != b.priority { return a.priority < b.priority }
            return a.node < b.node
        }
        let healthy = assessments.filter { $0.ineligibleBecause == nil || $0.ineligibleBecause!.contains("over max_lag") }
        let allOver = eligible.isEmpty && !healthy.isEmpty
        return CandidateChoice(chosen: eligible.first, assessments: assessments, allOverLagLimit: allOver)
    }
}
