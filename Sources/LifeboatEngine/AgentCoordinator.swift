import LifeboatCore
import LifeboatPorts
import Logging
import Metrics
import ServiceLifecycle

/// What the monitor last learned from one agent (`GET /v1/status` → `agents`).
public struct AgentObservation: Sendable, Equatable {
    public var node: String
    public var region: String
    public var reachable: Bool
    public var role: String?
    public var deploymentHash: String?
    /// True when this node's deployment differs from its peers' (same binary and config paths):
    /// from the primary region's node when there is one, else from the most common hash.
    public var drift: Bool
    public var files: AgentFilesReport?
    public var error: String?
    /// When the agent was last asked (nil: not yet).
    public var checkedAt: ContinuousClock.Instant?

    public init(node: String, region: String) {
        self.node = node
        self.region = region
        reachable = false
        drift = false
    }
}

/// The monitor's side of the agents: polls each one's signed `status` (deployment drift, file
/// replication), and announces the epoch and primary region with `sync-now` whenever they change,
/// so file replication follows the database. A change of the settled order (a failover or a
/// switchover finished) also refreshes every agent's status at once, not at the next interval.
public actor AgentCoordinator: Service {
    let agents: [any NodeAgent]
    let interval: Duration
    let timeout: Duration
    let logger: Logger
    /// The epoch and primary region, or nil while a failover is under way (nothing is announced then).
    let settledOrder: @Sendable () async -> ReplicationOrder?
    /// Told each agent's failsafe promise (node, holder or nil, remaining), every `promiseInterval`.
    let failsafe: (@Sendable (String, String?, Duration) async -> Void)?
    let promiseInterval: Duration
    private var observations: [String: AgentObservation] = [:]
    private var announced: [String: ReplicationOrder] = [:]
    private var attempted: [String: (order: ReplicationOrder, at: ContinuousClock.Instant)] = [:]
    private var lastOrder: ReplicationOrder?
    private let up: [String: Gauge]
    private let drift: [String: Gauge]

    public init(agents: [any NodeAgent], interval: Duration, timeout: Duration, logger: Logger,
                settledOrder: @escaping @Sendable () async -> ReplicationOrder?,
                failsafe: (@Sendable (String, String?, Duration) async -> Void)? = nil, promiseInterval: Duration = .seconds(1)) {
        self.failsafe = failsafe
        self.promiseInterval = promiseInterval
        self.agents = agents
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
        self.settledOrder = settledOrder
        up = Dictionary(agents.map { ($0.node, Gauge(label: "lifeboat_agent_up", dimensions: [("node", $0.node), ("region", $0.region)])) },
                        uniquingKeysWith: { first, _ in first })
        drift = Dictionary(agents.map { ($0.node, Gauge(label: "lifeboat_deployment_drift", dimensions: [("node", $0.node), ("region", $0.region)])) },
                           uniquingKeysWith: { first, _ in first })
        for agent in agents { observations[agent.node] = AgentObservation(node: agent.node, region: agent.region) }
    }

    public func current() -> [AgentObservation] { agents.compactMap { observations[$0.node] } }

    public func run() async throws {
        if failsafe != nil {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.pollLoop() }
                group.addTask { await self.promiseLoop() }
            }
        } else {
            try await pollLoop()
        }
    }

    /// Failsafe mode: asks every agent for the promise it holds, often (a promise lasts one lease
    /// TTL), and tells the engine; an unreachable agent's last report stands until it runs out.
    private func promiseLoop() async {
        guard let failsafe else { return }
        let clock = ContinuousClock()
        let timeout = min(self.timeout, promiseInterval)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let next = clock.now.advanced(by: promiseInterval)
            await withTaskGroup(of: Void.self) { group in
                for agent in agents {
                    group.addTask {
                        let report: FailsafePromiseReport?
                        do { report = try await agent.failsafePromise(timeout: timeout) } catch { return }
                        await failsafe(agent.node, report?.holder, report?.remaining ?? .zero)
                    }
                }
            }
            try? await clock.sleep(until: next)
        }
    }

    private func pollLoop() async throws {
        let clock = ContinuousClock()
        var nextPoll = clock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let order = await settledOrder()
            let orderChanged = order != nil && order != lastOrder
            if orderChanged { lastOrder = order }
            if clock.now >= nextPoll || orderChanged {
                await pollAll()
                nextPoll = clock.now.advanced(by: interval)
            }
            await announce()
            if orderChanged {
                // The agents' view right after they were told: what `lifeboat status` shows next.
                await pollAll()
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Asks every agent for its status, at once.
    public func pollAll() async {
        let timeout = self.timeout
        let results = await withTaskGroup(of: (String, Result<AgentReport, any Error>).self) { group in
            for agent in agents {
                group.addTask {
                    do { return (agent.node, .success(try await agent.status(timeout: timeout))) } catch { return (agent.node, .failure(error)) }
                }
            }
            var all: [(String, Result<AgentReport, any Error>)] = []
            for await result in group { all.append(result) }
            return all
        }
        var deploymentFiles: [String: String] = [:]
        for (node, result) in results {
            guard var o = observations[node] else { continue }
            o.checkedAt = ContinuousClock.now
            switch result {
            case .success(let report):
                o.reachable = true
                o.error = nil
                o.role = report.role
                o.deploymentHash = report.deploymentHash
                o.files = report.files
                deploymentFiles[node] = report.deploymentFiles.joined(separator: "\n")
                for path in report.files?.paths ?? [] {
                    // The source region is current by definition: 0, so "stale" alerts watch destinations only.
                    Gauge(label: "lifeboat_files_age_seconds", dimensions: [("node", node), ("path", path.name)])
                        .record(report.files?.source == true ? 0 : (path.ageSeconds ?? -1))
                    Gauge(label: "lifeboat_files_errors", dimensions: [("node", node), ("path", path.name)]).record(Double(path.errors))
                }
            case .failure(let error):
                o.reachable = false
                o.error = "\(error)"
            }
            up[node]?.record(o.reachable ? 1 : 0)
            observations[node] = o
        }
        await markDrift(deploymentFiles)
    }

    private func markDrift(_ deploymentFiles: [String: String]) async {
        let primaryRegion = await settledOrder()?.primaryRegion
        let groups = Dictionary(grouping: agents.filter { deploymentFiles[$0.node] != nil }) { deploymentFiles[$0.node]! }
        for (files, members) in groups where !files.isEmpty {
            let hashes = members.compactMap { a in observations[a.node]?.deploymentHash.map { (a, $0) } }
            let reference = hashes.first { $0.0.region == primaryRegion }?.1
                ?? Dictionary(grouping: hashes.map(\.1)) { $0 }.max { $0.value.count < $1.value.count }?.key
            for (agent, hash) in hashes {
                let drifted = reference != nil && hash != reference
                if drifted, observations[agent.node]?.drift == false {
                    logger.warning("deployment drift", metadata: ["node": "\(agent.node)", "region": "\(agent.region)"])
                }
                observations[agent.node]?.drift = drifted
                drift[agent.node]?.record(drifted ? 1 : 0)
            }
        }
    }

    /// Sends `sync-now` with the current order to every agent with file replication that has not
    /// acknowledged it yet (at most once per poll interval each). An agent that refuses because it
    /// already follows a newer epoch is logged, not retried.
    public func announce() async {
        guard let order = await settledOrder() else { return }
        let now = ContinuousClock.now
        let due = agents.filter { agent in
            guard announced[agent.node] != order, let o = observations[agent.node], o.reachable, o.files != nil else { return false }
            if let last = attempted[agent.node], last.order == order, last.at.duration(to: now) < interval { return false }
            return true
        }
        guard !due.isEmpty else { return }
        for agent in due { attempted[agent.node] = (order, now) }
        let results = await withTaskGroup(of: (String, Result<AgentFilesReport, any Error>).self) { group in
            for agent in due {
                group.addTask {
                    do { return (agent.node, .success(try await agent.syncNow(order, timeout: .seconds(60)))) } catch { return (agent.node, .failure(error)) }
                }
            }
            var all: [(String, Result<AgentFilesReport, any Error>)] = []
            for await result in group { all.append(result) }
            return all
        }
        for (node, result) in results {
            switch result {
            case .success(let files):
                announced[node] = order
                observations[node]?.files = files
                logger.notice("file replication follows the primary", metadata: [
                    "node": "\(node)", "files.epoch": "\(order.epoch)", "files.primary_region": "\(order.primaryRegion)",
                ])
            case .failure(let failure as AgentCallError) where failure.kind == .refused:
                announced[node] = order
                logger.error("agent refused the epoch", metadata: ["node": "\(node)", "error": "\(failure.description)"])
            case .failure(let error):
                logger.warning("sync-now failed; retrying next interval", metadata: ["node": "\(node)", "error": "\(error)"])
            }
        }
    }
}
