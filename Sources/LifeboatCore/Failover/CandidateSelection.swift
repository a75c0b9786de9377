/// Why a standby may not be promoted. Decisions read the case; people read `description`.
public enum Ineligibility: Sendable, Equatable, CustomStringConvertible {
    case unhealthy(HealthVerdict)
    case unreachableOnLatestProbe
    case notAStandby
    case noWALPosition
    case overLagBytes(behind: UInt64, limit: UInt64)
    case overLagSeconds(behind: Duration, limit: Duration)
    /// On another timeline than the primary's: restored from an old backup, or promoted on its own
    /// at some point. Its data is not a prefix of the primary's; never promoted, not even by hand.
    case forked(timeline: UInt32, primaryTimeline: UInt32)

    /// Healthy and a standby, held back only by a lag limit: an operator may still promote it.
    public var isLagLimit: Bool {
        switch self {
        case .overLagBytes, .overLagSeconds: return true
        case .unhealthy, .unreachableOnLatestProbe, .notAStandby, .noWALPosition, .forked: return false
        }
    }

    public var description: String {
        switch self {
        case .unhealthy(let verdict): return "unhealthy (\(verdict.rawValue))"
        case .unreachableOnLatestProbe: return "unreachable on its latest probe"
        case .notAStandby: return "not a standby"
        case .noWALPosition: return "reports no WAL position"
        case .overLagBytes(let behind, let limit): return "\(behind) bytes behind, over max_lag_bytes \(limit)"
        case .overLagSeconds(let behind, let limit):
            return "replay \(DurationText.format(behind)) behind, over max_lag_seconds \(DurationText.format(limit))"
        case .forked(let timeline, let primaryTimeline):
            return "on timeline \(timeline), not the primary's timeline \(primaryTimeline): its history forked from the primary's (restored from an old backup, or promoted on its own); never promoted"
        }
    }
}

/// How one standby fared as a promotion candidate.
public struct CandidateAssessment: Sendable, Equatable {
    public var node: String
    public var lsn: LSN?
    public var lagBytes: UInt64?
    public var lagSeconds: Duration?
    public var priority: Int
    /// Nil when eligible; otherwise why not.
    public var ineligible: Ineligibility?
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
                text += "; " + others.map { "\($0.node): \($0.ineligible?.description ?? "eligible, lower rank")" }.joined(separator: "; ")
            }
            return text
        }
        if assessments.isEmpty { return "no standby to promote" }
        return "no eligible standby: " + assessments.map { "\($0.node): \($0.ineligible?.description ?? "?")" }.joined(separator: "; ")
    }
}

/// Picks the standby to promote: healthy, in recovery, within the lag limits; then the highest
/// LSN, then the preferred region, then the name (so the choice is deterministic).
public enum CandidateSelection {
    public static func choose<Instant>(
        among standbys: [String],
        health: [String: NodeHealth<Instant>],
        lastPrimaryLSN: LSN?,
        primaryTimeline: UInt32? = nil,
        topology: Topology,
        policy: FailoverPolicy,
        enforceLagLimits: Bool = true
    ) -> CandidateChoice {
        let knownLSNs = standbys.compactMap { health[$0]?.lastStatus?.durableLSN }
        let reference = ([lastPrimaryLSN].compactMap { $0 } + knownLSNs).max()

        var assessments: [CandidateAssessment] = []
        for name in standbys {
            let nodeHealth = health[name]
            let status = nodeHealth?.currentStatus
            let lsn = status?.durableLSN
            var assessment = CandidateAssessment(
                node: name, lsn: lsn,
                lagBytes: lsn.flatMap { lsn in reference.map { $0.bytes(after: lsn) } },
                lagSeconds: status?.replayLag,
                priority: topology.priority(ofNode: name), ineligible: nil
            )
            if nodeHealth?.verdict != .healthy {
                assessment.ineligible = .unhealthy(nodeHealth?.verdict ?? .unknown)
            } else if status == nil {
                assessment.ineligible = .unreachableOnLatestProbe
            } else if status?.inRecovery == false {
                assessment.ineligible = .notAStandby
            } else if lsn == nil {
                assessment.ineligible = .noWALPosition
            } else if let primaryTimeline, let timeline = status?.timeline, timeline != primaryTimeline {
                assessment.ineligible = .forked(timeline: timeline, primaryTimeline: primaryTimeline)
            } else if enforceLagLimits, let bytes = assessment.lagBytes, bytes > policy.maxLagBytes {
                assessment.ineligible = .overLagBytes(behind: bytes, limit: policy.maxLagBytes)
            } else if enforceLagLimits, let seconds = assessment.lagSeconds, seconds > policy.maxLagSeconds {
                assessment.ineligible = .overLagSeconds(behind: seconds, limit: policy.maxLagSeconds)
            }
            assessments.append(assessment)
        }

        let eligible = assessments.filter { $0.ineligible == nil }.sorted { a, b in
            if a.lsn != b.lsn { return (a.lsn ?? LSN(0)) > (b.lsn ?? LSN(0)) }
            if a.priority != b.priority { return a.priority < b.priority }
            return a.node < b.node
        }
        let heldByLag = assessments.contains { $0.ineligible?.isLagLimit == true }
        return CandidateChoice(chosen: eligible.first, assessments: assessments, allOverLagLimit: eligible.isEmpty && heldByLag)
    }
}
