import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatEngine
import LifeboatHTTP
import LifeboatPorts
import Logging
import ServiceLifecycle

/// Makes former primaries (and nodes that left) streaming standbys of the current primary through
/// their agents: on an operator's `lifeboat rejoin` / `replica init`, and on its own as
/// `failover.rejoin` says. One rejoin per node at a time; every request and result is journaled.
public actor RejoinCoordinator: Service {
    struct Address: Sendable {
        var host: String
        var port: Int
    }

    /// Each node's agent (nodes without one cannot rejoin).
    let targets: [String: AgentClient]
    /// Where each node's PostgreSQL is reached for replication (its `host` and `port` in lifeboat.yml).
    let addresses: [String: Address]
    let slot: EngineSlot
    let topology: Topology
    let policy: RejoinPolicy
    let logger: Logger
    let every: Duration
    /// With managed slots: the node's slot is made on the primary before the agent streams through it.
    let slots: SlotManager?
    private var running: Set<String> = []
    /// The last finished rejoin of each node (drills report it).
    private var reports: [String: RejoinReport] = [:]

    public func lastReport(of node: String) -> RejoinReport? { reports[node] }
    /// Automatic tries that failed: not tried again on their own before this (the operator's command still works).
    private var backoff: [String: ContinuousClock.Instant] = [:]
    /// Nodes that rejoined and stream: left alone while the engine's probes catch up with it (it
    /// lifts the retired mark once it sees the node stream).
    private var rejoinedAt: [String: (primary: String, at: ContinuousClock.Instant)] = [:]
    static let settleAfterRejoin: Duration = .seconds(15)

    init(targets: [String: AgentClient], addresses: [String: Address], slot: EngineSlot, topology: Topology, policy: RejoinPolicy,
         slots: SlotManager? = nil, logger: Logger, every: Duration = .seconds(2)) {
        self.slots = slots
        self.targets = targets
        self.addresses = addresses
        self.slot = slot
        self.topology = topology
        self.policy = policy
        self.logger = logger
        self.every = every
    }

    /// `POST /v1/rejoin`.
    public func rejoin(_ request: RejoinRequest, by who: String) async -> RejoinAnswer {
        guard let engine = slot.engine else {
            let leader = await slot.leadership?.leader
            return .notLeader(leader: leader?.monitor, api: leader?.api)
        }
        let node = request.node
        guard topology.node(named: node) != nil, topology.databaseNodes.contains(where: { $0.name == node }) else {
            return .refused("unknown database node '\(LogSafe.escape(node, maxLength: 64))' (known: \(topology.databaseNodes.map(\.name).joined(separator: ", ")))")
        }
        guard case .monitoring(let primary) = await engine.state else {
            return .refused("the monitor is \(await engine.state.kind.rawValue), not monitoring an identified primary; a node rejoins only a settled cluster")
        }
        if node == primary { return .refused("\(node) is the primary; it cannot rejoin as a standby (a switchover makes another node primary first)") }
        if let from = request.from, from != primary {
            return .refused("--from \(LogSafe.escape(from, maxLength: 64)) is not the primary (\(primary) is); a standby is made a copy of the primary only")
        }
        guard let target = targets[node] else {
            return .refused("\(node) has no agent (agent: in its database node entry, and agents: with the key); the agent runs the node-side steps")
        }
        guard let source = addresses[primary] else { return .refused("the primary \(primary) has no address in the config") }
        return await run(node: node, target: target, primary: primary, host: source.host, port: source.port,
                         reinit: request.reinit ?? .never, by: who, engine: engine)
    }

    private func run(node: String, target: AgentClient, primary: String, host: String, port: Int, reinit: ReinitChoice, by who: String,
                     engine: Engine<ContinuousClock>) async -> RejoinAnswer {
        guard running.insert(node).inserted else { return .refused("a rejoin of \(node) is already running") }
        defer { running.remove(node) }
        let epoch = await engine.epoch
        let how = switch reinit {
        case .never: "with pg_rewind"
        case .fallback: "with pg_rewind, or a fresh base backup where pg_rewind cannot be used"
        case .always: "from a fresh base backup (its data is replaced)"
        }
        await engine.journalLines([(.operatorCommand, "rejoin of \(node) as a standby of \(primary) \(how) asked by \(LogSafe.escape(who, maxLength: 64))")])
        var slotName: String?
        if let slots {
            do {
                slotName = try await slots.ensure(node: node, on: primary)
            } catch {
                await engine.journalLines([(.alert(.warning), "rejoin of \(node) stopped before it began: cannot make its replication slot on \(primary): \(error)")])
                return .failed(RejoinFailure(step: "slot", error: "\(error)", phases: []))
            }
        }
        let order = RejoinOrder(epoch: epoch.value, primary: primary, host: host, port: port, reinit: reinit, slot: slotName)
        do {
            let report = try await target.rejoin(order, timeout: .seconds(6 * 3600))
            var lines: [(JournalKind, String)] = [(.decision, report.summary)]
            if !report.streaming { lines.append((.alert(.warning), "\(node) rejoined but does not stream from \(primary) yet: \(report.detail)")) }
            await engine.journalLines(lines)
            backoff[node] = nil
            // "Already streaming" adds nothing to the report of the rejoin that made it so.
            if report.method != .alreadyStreaming || reports[node]?.primary != report.primary { reports[node] = report }
            if report.streaming { rejoinedAt[node] = (primary, ContinuousClock.now) }
            return .done(report)
        } catch let failure as RejoinFailure {
            await engine.journalLines([(.alert(.warning), "rejoin of \(node) stopped at \(failure.step): \(failure.error)")])
            return .failed(failure)
        } catch {
            let failure = RejoinFailure(step: "agent", error: "\(error)", phases: [])
            await engine.journalLines([(.alert(.warning), "rejoin of \(node) failed: cannot reach its agent: \(error)")])
            return .failed(failure)
        }
    }

    /// An automatic rejoin that failed is tried again after this long.
    static let retryAfter: Duration = .seconds(30)

    /// `failover.rejoin`: retired former primaries are rejoined once their agent answers.
    public func run() async throws {
        guard policy != .manual else { return }
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            await autoRound()
            try? await Task.sleep(for: every)
        }
    }

    func autoRound() async {
        guard let engine = slot.engine, case .monitoring(let primary) = await engine.state, let source = addresses[primary] else { return }
        let retired = await engine.retired
        let bySwitchover = await engine.retiredBySwitchover
        let now = ContinuousClock.now
        for node in retired.sorted() where node != primary && !running.contains(node) {
            guard let target = targets[node] else { continue }
            if let until = backoff[node], now < until { continue }
            if let done = rejoinedAt[node], done.primary == primary, done.at.duration(to: now) < Self.settleAfterRejoin { continue }
            let reinit: ReinitChoice
            switch policy {
            case .manual: return
            case .switchover:
                guard bySwitchover.contains(node) else { continue }
                reinit = .never
            case .auto: reinit = .never
            case .reinit: reinit = .fallback
            }
            // Only once its agent answers (a dead region's node waits).
            guard (try? await target.status(timeout: .seconds(2))) != nil else { continue }
            logger.notice("rejoining \(node) on its own (failover.rejoin: \(policy.rawValue))")
            let answer = await run(node: node, target: target, primary: primary, host: source.host, port: source.port, reinit: reinit,
                                   by: "monitor (failover.rejoin: \(policy.rawValue))", engine: engine)
            if case .done = answer {} else { backoff[node] = ContinuousClock.now.advanced(by: Self.retryAfter) }
        }
    }
}
