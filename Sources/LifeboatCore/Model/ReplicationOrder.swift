/// Which region file replication follows, and under which epoch: agents pull from the primary
/// region an order names and refuse an order older than one they follow.
public struct ReplicationOrder: Sendable, Codable, Equatable {
    public var epoch: UInt64
    public var primaryRegion: String

    public init(epoch: UInt64, primaryRegion: String) {
        self.epoch = epoch
        self.primaryRegion = primaryRegion
    }

    /// The epoch and primary region file replication should follow, or nil while a failover is
    /// under way or no primary is known: agents are told only settled facts, so one epoch never
    /// names two primaries.
    public static func settled<Instant>(state: FailoverState<Instant>, epoch: Epoch, topology: Topology) -> ReplicationOrder? {
        let primary: String?
        switch state {
        case .monitoring(let p), .confirming(let p, _, _), .holding(let p, _): primary = p
        case .trafficNotSwitched(let progress, _): primary = progress.candidate
        case .discovering, .failingOver, .failed: primary = nil
        }
        guard let primary, let region = topology.node(named: primary)?.region else { return nil }
        return ReplicationOrder(epoch: epoch.value, primaryRegion: region)
    }
}
