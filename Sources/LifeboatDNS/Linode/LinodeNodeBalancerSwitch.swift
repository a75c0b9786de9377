import AsyncHTTPClient
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatPorts

/// A NodeBalancer backend as `GET /nodebalancers/{id}/configs/{configId}/nodes/{nodeId}` returns it
/// (the fields Lifeboat reads).
public struct LinodeNodeBalancerNode: Decodable, Sendable, Equatable {
    public var id: Int
    public var label: String
    public var address: String
    /// `accept`, `reject`, `drain` or `backup` (Linode's enum).
    public var mode: String
}

public enum NodeBalancerSwitchError: Error, Equatable, CustomStringConvertible {
    case noNode(region: String)
    /// The old region's backend does not accept traffic and the new one's does not either: someone
    /// else changed the NodeBalancer, so it is left alone.
    case unexpectedModes(found: [String: String], expected: String)
    case notApplied(region: String, mode: String, wanted: String)

    public var description: String {
        switch self {
        case .noNode(let region): return "no NodeBalancer node is configured for region \(region) (nodebalancer.nodes)"
        case .unexpectedModes(let found, let expected):
            let modes = found.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "the NodeBalancer's nodes are \(modes), not \(expected) as Lifeboat believes; someone else changed them, so they are left alone"
        case .notApplied(let region, let mode, let wanted):
            return "the NodeBalancer node of \(region) reads back as \(mode) after being set to \(wanted)"
        }
    }
}

/// Moves traffic by switching a Linode NodeBalancer's backends: the new primary region's node to
/// `accept` first (traffic always has somewhere to go), then every other region's node to
/// `reject` or `drain`, each through `PUT /nodebalancers/{id}/configs/{configId}/nodes/{nodeId}`,
/// then reads every node back. Compare-and-swap: it acts only while the old region's node accepts
/// (or the new one already does, a resumed switch).
public struct LinodeNodeBalancerSwitch: TrafficSwitch {
    public enum StandbyMode: String, Sendable, CaseIterable { case reject, drain }

    let transport: LinodeHTTP
    public var nodeBalancerID: Int
    public var configID: Int
    /// Region -> the NodeBalancer node (backend) of that region.
    public var nodes: [String: Int]
    public var standbyMode: StandbyMode

    public init(baseURL: String = "https://api.linode.com/v4", token: Secret, http: HTTPClient = .shared, nodeBalancerID: Int, configID: Int,
                nodes: [String: Int], standbyMode: StandbyMode = .reject, requestTimeout: Duration = .seconds(10), maxAttempts: Int = 3,
                baseDelay: Duration = .milliseconds(250)) {
        transport = LinodeHTTP(baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL, token: token, http: http,
                               requestTimeout: requestTimeout, maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: .seconds(2))
        self.nodeBalancerID = nodeBalancerID
        self.configID = configID
        self.nodes = nodes
        self.standbyMode = standbyMode
    }

    private func path(_ node: Int) -> String { "/nodebalancers/\(nodeBalancerID)/configs/\(configID)/nodes/\(node)" }

    /// Each region's node mode.
    public func modes() async throws -> [String: String] {
        var modes: [String: String] = [:]
        for (region, id) in nodes {
            let data = try await transport.send(.GET, path(id), query: [:], filter: nil, body: nil)
            do { modes[region] = try JSONDecoder().decode(LinodeNodeBalancerNode.self, from: data).mode } catch {
                throw LinodeAPIError.unexpectedBody("GET NodeBalancer node \(id): \(error)")
            }
        }
        return modes
    }

    private func set(_ region: String, _ mode: String) async throws {
        guard let id = nodes[region] else { throw NodeBalancerSwitchError.noNode(region: region) }
        let body = try JSONSerialization.data(withJSONObject: ["mode": mode])
        let data = try await transport.send(.PUT, path(id), query: [:], filter: nil, body: body)
        let stored = (try? JSONDecoder().decode(LinodeNodeBalancerNode.self, from: data))?.mode
        guard stored == mode else { throw NodeBalancerSwitchError.notApplied(region: region, mode: stored ?? "unreadable", wanted: mode) }
    }

    public func switchTraffic(toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
                              progress: @escaping @Sendable (String) -> Void) async throws -> TrafficSwitchResult {
        guard nodes[region] != nil else { throw NodeBalancerSwitchError.noNode(region: region) }
        let before = try await modes()
        let others = nodes.keys.filter { $0 != region }.sorted()
        let done = before[region] == "accept" && others.allSatisfy { before[$0] != "accept" }
        if done {
            return TrafficSwitchResult(changed: false, detail: "NodeBalancer \(nodeBalancerID) already sends traffic to \(region) only")
        }
        guard before[fromRegion] == "accept" || before[region] == "accept" else {
            throw NodeBalancerSwitchError.unexpectedModes(found: before, expected: "\(fromRegion) accepting")
        }
        if before[region] != "accept" { try await set(region, "accept") }
        for other in others where before[other] == "accept" { try await set(other, standbyMode.rawValue) }
        let after = try await modes()
        guard after[region] == "accept" else { throw NodeBalancerSwitchError.notApplied(region: region, mode: after[region] ?? "missing", wanted: "accept") }
        for other in others where after[other] == "accept" {
            throw NodeBalancerSwitchError.notApplied(region: other, mode: "accept", wanted: standbyMode.rawValue)
        }
        let detail = "NodeBalancer \(nodeBalancerID): \(region) accept, \(others.map { "\($0) \(after[$0] ?? "?")" }.joined(separator: ", ")) (read back)"
        progress(detail)
        return TrafficSwitchResult(changed: true, detail: detail)
    }
}

/// Several traffic switches in turn (a DNS record and a NodeBalancer): each is asked, in order;
/// the first that fails stops the step (the engine retries it, and each switch is idempotent).
public struct TrafficSwitches: TrafficSwitch {
    public var switches: [any TrafficSwitch]
    public init(_ switches: [any TrafficSwitch]) { self.switches = switches }

    public func switchTraffic(toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
                              progress: @escaping @Sendable (String) -> Void) async throws -> TrafficSwitchResult {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var results: [TrafficSwitchResult] = []
        for traffic in switches {
            results.append(try await traffic.switchTraffic(toRegion: region, fromRegion: fromRegion, node: node, epoch: epoch,
                                                           timeout: max(.zero, clock.now.duration(to: deadline)), progress: progress))
        }
        return TrafficSwitchResult(changed: results.contains { $0.changed }, detail: results.map(\.detail).joined(separator: "; "))
    }
}
