import LifeboatCore

/// Moves client traffic to a region (DNS record, load balancer). Providers come in later versions.
public protocol TrafficSwitch: Sendable {
    func switchTraffic(toRegion region: String, node: String, epoch: Epoch, timeout: Duration) async throws -> String
}

/// No traffic switch configured: clients find the primary themselves (multi-host connection
/// strings with `target_session_attrs=read-write`).
public struct NoTrafficSwitch: TrafficSwitch {
    public init() {}
    public func switchTraffic(toRegion region: String, node: String, epoch: Epoch, timeout: Duration) async throws -> String {
        "no traffic switch configured; clients that try every region find \(node)"
    }
}
