import Foundation
import LifeboatCore
import LifeboatEngine
import LifeboatHTTP
import LifeboatPorts
import LifeboatProbes

/// Connects the API to the running engine, the state store's journal, the application checks and
/// the agent coordinator.
public struct EngineControl: MonitorControl {
    let cluster: String
    let topology: Topology
    let slot: EngineSlot
    let store: any StateStore
    let services: ServiceMonitor
    let agents: AgentCoordinator?
    public internal(set) var rejoins: RejoinCoordinator?

    public func rejoin(_ request: RejoinRequest, by: String) async -> RejoinAnswer {
        guard let rejoins else { return .refused("no node has an agent (agents: and agent: in lifeboat.yml); the agent runs a rejoin's node-side steps") }
        return await rejoins.rejoin(request, by: by)
    }

    public func status() async -> StatusView {
        let monitors = await slot.monitors()
        guard let engine = slot.engine else {
            // A monitor that does not lead probes nothing: it says who does.
            let who = monitors?.leader.map { "monitor \($0)" + (monitors?.leaderAPI.map { " at \($0)" } ?? "") + " leads: ask it" }
                ?? "no monitor leads right now (etcd unreachable, or an election is under way)"
            var view = StatusView(cluster: cluster, state: "following", primary: nil, epoch: (try? await epochFromStore()) ?? 0, paused: false,
                                  lastDecision: "this monitor does not lead; \(who)",
                                  nodes: topology.databaseNodes.map {
                                      StatusView.Node(name: $0.name, region: $0.region, role: "unknown", health: "unknown", reachable: false,
                                                      lsn: nil, lagBytes: nil, lagSeconds: nil, walReceiver: nil, lastError: nil)
                                  })
            view.monitors = monitors
            return view
        }
        var view = await status(engine)
        view.monitors = monitors
        return view
    }

    /// The epoch the shared state was last saved under (a monitor that does not lead).
    private func epochFromStore() async throws -> UInt64? {
        try await store.loadSnapshot()?.snapshot.epoch
    }

    private func status(_ engine: Engine<ContinuousClock>) async -> StatusView {
        let state = await engine.state
        let health = await engine.health
        let primary = state.primary
        let topology = await engine.topology
        let now = await engine.now
        let primaryLSN = primary.flatMap { health[$0]?.lastStatus?.currentLSN }
        let primaryTimeline = await engine.lastPrimaryTimeline
        let nodes = topology.databaseNodes.map { node -> StatusView.Node in
            let h = health[node.name]
            let status = h?.lastStatus
            let role: String = if let current = h?.currentStatus { current.inRecovery ? "standby" : (current.readOnly ? "fenced" : "primary") } else { "unknown" }
            let receiver: String? = switch status?.walReceiver {
            case .streaming?: "streaming"
            case .notStreaming(let s)?: s ?? "stopped"
            case .notApplicable?, nil: nil
            }
            let lsn = status?.durableLSN
            return StatusView.Node(
                name: node.name, region: node.region, role: role, health: h?.verdict.rawValue ?? "unknown",
                reachable: h?.currentStatus != nil, lsn: lsn?.description,
                lagBytes: status?.inRecovery == true ? lsn.flatMap { l in primaryLSN.map { $0.bytes(after: l) } } : nil,
                lagSeconds: status?.replayLag.map(\.seconds), walReceiver: receiver, lastError: h?.lastResult?.failure?.detail,
                observedAgoSeconds: h?.lastObservedAt.map { Self.rounded($0.duration(to: now).seconds) },
                timeline: status?.timeline,
                forked: status?.inRecovery == true && status?.timeline != nil && primaryTimeline != nil && status?.timeline != primaryTimeline
            )
        }
        let observed = ContinuousClock.now
        var view = StatusView(cluster: cluster, state: state.kind.rawValue, primary: primary, epoch: await engine.epoch.value,
                          paused: await engine.paused, lastDecision: await engine.lastReason, nodes: nodes,
                          services: services.observations.map {
                              StatusView.ServiceNode(service: $0.target.service, node: $0.target.node, region: $0.target.region,
                                                     healthy: $0.result?.ok, error: $0.result?.error)
                          },
                          agents: await (agents?.current() ?? []).map { Self.view($0, now: observed) })
        view.regions = await engine.appTier.sorted { $0.key < $1.key }.map { region, verdict in
            switch verdict {
            case .serving(let healthy, let total):
                return StatusView.RegionTier(region: region, verdict: "serving", healthy: healthy, total: total, detail: verdict.summary)
            case .down(let healthy, let total, _):
                return StatusView.RegionTier(region: region, verdict: "down", healthy: healthy, total: total, detail: verdict.summary)
            case .uncorroborated(let healthy, let total, _):
                return StatusView.RegionTier(region: region, verdict: "uncorroborated", healthy: healthy, total: total, detail: verdict.summary)
            }
        }
        view.lease = await engine.lease.map {
            StatusView.Lease(holder: $0.holder, epoch: $0.epoch.value, remainingSeconds: $0.released ? 0 : Self.rounded(now.duration(to: $0.expiresAt).seconds),
                             released: $0.released)
        }
        return view
    }

    static func view(_ o: AgentObservation, now: ContinuousClock.Instant) -> StatusView.AgentNode {
        StatusView.AgentNode(
            node: o.node, region: o.region, reachable: o.reachable, role: o.role, deploymentHash: o.deploymentHash, drift: o.drift,
            filesEpoch: o.files?.order.epoch, filesPrimaryRegion: o.files?.order.primaryRegion, filesRefusal: o.files?.refusal,
            files: (o.files?.paths ?? []).map {
                .init(name: $0.name, ageSeconds: $0.ageSeconds, lastBytes: $0.lastBytes, errors: $0.errors, lastError: $0.lastError)
            },
            error: o.error, checkedAgoSeconds: o.checkedAt.map { rounded($0.duration(to: now).seconds) })
    }

    static func rounded(_ seconds: Double) -> Double { (max(0, seconds) * 1000).rounded() / 1000 }

    public func events(after: Int64, limit: Int) async throws -> [EventView] {
        Self.views(try await store.journal(after: after, limit: limit))
    }

    public func newestEvents(limit: Int) async throws -> [EventView] {
        Self.views(try await store.newestJournal(limit: limit))
    }

    static func views(_ lines: [StoredJournalLine]) -> [EventView] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return lines.map {
            EventView(seq: $0.seq, at: formatter.string(from: Date(timeIntervalSince1970: $0.unixTime)), epoch: $0.epoch, kind: $0.kind,
                      step: $0.step, node: $0.node, message: $0.message)
        }
    }

    public func command(_ event: FailoverEvent) async -> CommandAnswer {
        guard let engine = slot.engine else { return await slot.notLeader() }
        switch await engine.submit(event) {
        case .outcome(let outcome): return .outcome(outcome)
        case .notSaved(let why): return .notSaved(why)
        case .notRunning: return .notRunning
        }
    }

    public func preview(_ event: FailoverEvent) async -> CommandOutcome {
        guard let engine = slot.engine else {
            let leader = await slot.leadership?.leader
            return .refused(.notLeading(leader: leader?.monitor))
        }
        return await engine.preview(event)
    }
}
