import LifeboatCore
import Synchronization

/// Which of each region's DNS targets may be in the record now (`failover.trigger: region`): the
/// addresses of application nodes that answer, plus targets no application node stands behind. A
/// region whose every node is down keeps all its targets: the record is never emptied.
public final class RegionMembers: Sendable {
    private let healthy = Mutex<[String: Set<IPv4>]>([:])

    public init() {}

    public func set(_ region: String, healthy addresses: Set<IPv4>) { healthy.withLock { $0[region] = addresses } }

    /// `targets` narrowed to the healthy ones, or all of them when none is known healthy.
    public func filter(_ region: String, _ targets: [IPv4]) -> [IPv4] {
        guard let known = healthy.withLock({ $0[region] }) else { return targets }
        let kept = targets.filter(known.contains)
        return kept.isEmpty ? targets : kept
    }
}
