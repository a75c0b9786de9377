import LifeboatCore

/// What a traffic switch did.
public struct TrafficSwitchResult: Sendable, Equatable {
    /// The record (or load balancer) was changed by this call; false when it already pointed at
    /// the region or nothing is configured to switch.
    public var changed: Bool
    /// For people: what was changed and verified.
    public var detail: String

    public init(changed: Bool, detail: String) {
        self.changed = changed
        self.detail = detail
    }
}

/// Moves client traffic to a region (a DNS record today; a load balancer later).
public protocol TrafficSwitch: Sendable {
    /// Points traffic at `region` if it still points at `fromRegion` (or already at `region`).
    /// `progress` reports milestones (switched, verified) for the journal. Must give up within
    /// `timeout`; the engine abandons the call at that deadline in any case.
    func switchTraffic(
        toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> TrafficSwitchResult
}

/// No traffic switch configured: clients find the primary themselves (multi-host connection
/// strings with `target_session_attrs=read-write`).
public struct NoTrafficSwitch: TrafficSwitch {
    public init() {}
    public func switchTraffic(
        toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> TrafficSwitchResult {
        TrafficSwitchResult(changed: false, detail: "no traffic switch configured; clients that try every region find \(node)")
    }
}
