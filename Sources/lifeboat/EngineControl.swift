import Foundation
import LifeboatAgent
import LifeboatCore
import LifeboatEngine
import LifeboatHTTP
import LifeboatProbes
import LifeboatStore

/// Connects the API to the running engine and the state file's journal.
struct EngineControl: MonitorControl {
    let cluster: String
    let engine: Engine<ContinuousClock>
    let store: SQLiteStateStore
    let services: ServiceMonitor
    var agents: AgentCoordinator? = nil

    static func settledOrder(_ engine: Engine<ContinuousClock>, regionOf: [String: String]) async -> ReplicationOrder? {
        ReplicationOrder.settled(state: await engine.state, epoch: await engine.epoch, regionOf: regionOf)
    }

    func status() async -> StatusView {
        let state = await engine.state
        let health = await engine.health
        let primary = state.primary
        let topology = await engine.topology
        let primaryLSN = primary.flatMap { health[$0]?.lastStatus?.currentLSN }
        let nodes = topology.databaseNodes.map { node -> StatusView.Node in
            let h = health[node.name]
            let status = h?.lastStatus
            let role: String = if let current = h?.currentStatus { current.inRecovery ? "standby" : (current.readOnly ? "fenced" : "primary") } else { "unknown" }
            let receiver: String? = switch status?.walReceiver {
            case .streaming?: "streaming"
            case .notStreaming(let s)?: s ?? "stopped"
            case .notApplicable?, nil: nil
            }
            var lastError: String?
            if case .unreachable(let reason)? = h?.lastResult { lastError = reason }
            let lsn = status?.durableLSN
            return StatusView.Node(
                name: node.name, region: node.region, role: role, health: h?.verdict.rawValue ?? "unknown",
                reachable: h?.currentStatus != nil, lsn: lsn?.description,
                lagBytes: status?.inRecovery == true ? lsn.flatMap { l in primaryLSN.map { $0.bytes(after: l) } } : nil,
                lagSeconds: status?.replayLag.map(\.seconds), walReceiver: receiver, lastError: lastError
            )
        }
        return StatusView(cluster: cluster, state: state.kind.rawValue, primary: primary, epoch: await engine.epoch.value,
                          paused: await engine.paused, lastDecision: await engine.lastReason, nodes: nodes,
                          services: services.observations.map {
                              StatusView.ServiceNode(service: $0.target.service, node: $0.target.node, region: $0.target.region,
                                                     healthy: $0.result?.ok, error: $0.result?.error)
                          },
                          agents: await (agents?.current() ?? []).map(Self.view))
    }

    static func view(_ o: AgentObservation) -> StatusView.AgentNode {
        StatusView.AgentNode(
            node: o.node, region: o.region, reachable: o.reachable, role: o.role, deploymentHash: o.deploymentHash, drift: o.drift,
            filesEpoch: o.filesEpoch, filesPrimaryRegion: o.filesPrimaryRegion, filesRefusal: o.filesRefusal,
            files: o.files.map { .init(name: $0.name, ageSeconds: $0.ageSeconds, lastBytes: $0.lastBytes, errors: $0.errors, lastError: $0.lastError) },
            error: o.error)
    }

    func events(since: Int64, limit: Int) async throws -> [EventView] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return try store.journal(since: since, limit: limit).map {
            EventView(seq: $0.seq, at: formatter.string(from: $0.at), epoch: $0.epoch, kind: $0.kind, step: $0.step, node: $0.node, message: $0.message)
        }
    }

    func plan(to target: String?) async -> FailoverPlan { await engine.plan(to: target) }

    func submit(_ event: FailoverEvent) async { await engine.submit(event) }
}
