import LifeboatCore

/// Moves client traffic to a region (a DNS record today; a load balancer later).
public protocol TrafficSwitch: Sendable {
    /// Points traffic at `region` if it still points at `fromRegion` (or already at `region`).
    /// `progress` reports milestones (switched, verified) for the journal.
    func switchTraffic(
        toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> String
}

/// No traffic switch configured: clients find the primary themselves (multi-host connection
/// strings with `target_session_attrs=read-write`).
public struct NoTrafficSwitch: TrafficSwitch {
    public init() {}
    public func switchTraffic(
        toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> String {
        "no traffic switch configured; clients that try every region find \(node)"
    }
}
