import LifeboatConfig
import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatPostgres
import Logging
import Metrics
import ServiceLifecycle

/// Keeps the primary's `synchronous_standby_names` to `durability:` — on the primary the leading
/// monitor watches, so it moves with every failover and switchover — and says when the cluster is
/// short of synchronous standbys (journal, alert, metrics).
public actor DurabilityManager: Service {
    let policy: DurabilityPolicy
    let slot: EngineSlot
    let nodes: [String: PostgresNode]
    let topology: Topology
    let logger: Logger
    let every: Duration
    private var applied: [String: String] = [:]
    /// When the primary's setting was last read back (it is checked again every few seconds, so a
    /// change behind Lifeboat's back is undone).
    private var checkedAt: ContinuousClock.Instant?
    private var degraded = false
    private let required = Gauge(label: "lifeboat_synchronous_standbys_required")
    private let streamingGauge = Gauge(label: "lifeboat_synchronous_standbys_streaming")
    private let degradedGauge = Gauge(label: "lifeboat_durability_degraded")

    init(policy: DurabilityPolicy, slot: EngineSlot, nodes: [String: PostgresNode], topology: Topology, logger: Logger,
         every: Duration = .milliseconds(250)) {
        self.policy = policy
        self.slot = slot
        self.nodes = nodes
        self.topology = topology
        self.logger = logger
        self.every = every
    }

    public func run() async throws {
        required.record(policy.required(databaseNodes: topology.databaseNodes.count))
        await everyRound(every, closing: nodes) { await self.round() }
    }

    func round() async {
        guard let engine = slot.engine, case .monitoring(let primary) = await engine.state, let server = nodes[primary] else { return }
        let health = await engine.health
        let streaming = topology.databaseNodes.filter { $0.name != primary && health[$0.name]?.currentStatus?.isStreaming == true }.count
        streamingGauge.record(streaming)
        let (value, short) = policy.synchronousStandbyNames(databaseNodes: topology.databaseNodes.count, streaming: streaming)
        if short != degraded {
            degraded = short
            degradedGauge.record(short ? 1 : 0)
            let needed = policy.required(databaseNodes: topology.databaseNodes.count)
            let text = short
                ? (policy.whenShort == .wait
                    ? "durability \(policy.mode.rawValue): \(streaming) of the \(needed) synchronous standbys needed stream; commits on \(primary) wait until enough stream again"
                    : "durability \(policy.mode.rawValue): \(streaming) of the \(needed) synchronous standbys needed stream; commits on \(primary) go on with fewer (when_short: async) and a failover now may lose them")
                : "durability \(policy.mode.rawValue): enough synchronous standbys stream from \(primary) again"
            await engine.journalLines([(.alert(short ? .critical : .info), text)])
        }
        let now = ContinuousClock.now
        if applied[primary] == value, let checkedAt, checkedAt.duration(to: now) < .seconds(5) { return }
        checkedAt = now
        do {
            let before = try await server.setSynchronousStandbyNames(value, timeout: .seconds(2))
            applied = [primary: value]
            if before != value {
                await engine.journalLines([(.decision, "synchronous_standby_names on \(primary): '\(before)' -> '\(value)' (durability \(policy.mode.rawValue), \(streaming) standby(s) streaming)")])
            }
        } catch {
            logger.warning("cannot set synchronous_standby_names on \(primary): \(error)")
        }
    }
}

/// Runs `round` every `every` until the service group shuts down, then closes `nodes`' connections
/// (the loop of the managers that keep something on the watched primary).
func everyRound(_ every: Duration, closing nodes: [String: PostgresNode], _ round: @Sendable () async -> Void) async {
    while !Task.isCancelled, !Task.isShuttingDownGracefully {
        await round()
        try? await Task.sleep(for: every)
    }
    for node in nodes.values { await node.close() }
}
