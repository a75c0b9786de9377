import Foundation
import LifeboatCore
import Logging
import Metrics
import ServiceLifecycle

extension ReplicationOrder {
    /// The epoch and primary region file replication should follow, or nil while a failover is
    /// under way: agents are told only settled facts, so one epoch never names two primaries.
    public static func settled<Instant>(state: FailoverState<Instant>, epoch: Epoch, regionOf: [String: String]) -> ReplicationOrder? {
        let primary: String?
        switch state {
        case .monitoring(let p), .confirming(let p, _, _), .holding(let p, _): primary = p
        case .trafficNotSwitched(let progress, _): primary = progress.candidate
        case .discovering, .failingOver, .failed: primary = nil
        }
        guard let primary, let region = regionOf[primary] else { return nil }
        return ReplicationOrder(epoch: epoch.value, primaryRegion: region)
    }
}

/// What the monitor last learned from one agent (`GET /v1/status` → `agents`).
public struct AgentObservation: Sendable, Equatable {
    public struct FilePath: Sendable, Equatable {
        public var name: String
        public var ageSeconds: Double?
        public var lastBytes: UInt64
        public var errors: UInt64
        public var lastError: String?
    }

    public var node: String
    public var region: String
    public var reachable: Bool
    public var role: String?
    public var deploymentHash: String?
    /// True when this node's deployment differs from its peers' (same binary and config paths):
    /// from the primary region's node when there is one, else from the most common hash.
    public var drift: Bool
    public var filesEpoch: UInt64?
    public var filesPrimaryRegion: String?
    public var filesRefusal: String?
    public var files: [FilePath]
    public var error: String?
    public var checkedAt: Date?
}

/// The monitor's side of the agents: polls each one's signed `status` (deployment drift, file
/// replication), and announces the epoch and primary region with `sync-now` whenever they change,
/// so file replication follows the database.
public actor AgentCoordinator: Service {
    public struct Target: Sendable {
        public var node: String
        public var region: String
        public var client: AgentClient

        public init(node: String, region: String, client: AgentClient) {
            self.node = node
            self.region = region
            self.client = client
        }
    }

    let targets: [Target]
    let interval: Duration
    let timeout: Duration
    let logger: Logger
    /// The epoch and primary region, or nil while a failover is under way (nothing is announced then).
    let settledOrder: @Sendable () async -> ReplicationOrder?
    private var observations: [String: AgentObservation] = [:]
    private var announced: [String: ReplicationOrder] = [:]
    private var attempted: [String: (order: ReplicationOrder, at: ContinuousClock.Instant)] = [:]
    /// The watched files' names, per node: nodes watching the same names are compared.
    private var deploymentPaths: [String: String] = [:]
    private let up: [String: Gauge]
    private let drift: [String: Gauge]

    public init(targets: [Target], interval: Duration, timeout: Duration, logger: Logger,
                settledOrder: @escaping @Sendable () async -> ReplicationOrder?) {
        self.targets = targets
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
        self.settledOrder = settledOrder
        up = Dictionary(uniqueKeysWithValues: targets.map { ($0.node, Gauge(label: "lifeboat_agent_up", dimensions: [("node", $0.node), ("region", $0.region)])) })
        drift = Dictionary(uniqueKeysWithValues: targets.map { ($0.node, Gauge(label: "lifeboat_deployment_drift", dimensions: [("node", $0.node), ("region", $0.region)])) })
        for target in targets {
            observations[target.node] = AgentObservation(node: target.node, region: target.region, reachable: false, drift: false, files: [])
        }
    }

    public func current() -> [AgentObservation] { targets.compactMap { observations[$0.node] } }

    public func run() async throws {
        let clock = ContinuousClock()
        var nextPoll = clock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            if clock.now >= nextPoll {
                await pollAll()
                nextPoll = clock.now.advanced(by: interval)
            }
            await announce()
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Asks every agent for its status, at once.
    public func pollAll() async {
        let results = await withTaskGroup(of: (Target, Result<Agent.StatusReport, any Error>).self) { group in
            for target in targets {
                group.addTask {
                    do { return (target, .success(try await target.client.status(timeout: self.timeout))) } catch { return (target, .failure(error)) }
                }
            }
            var all: [(Target, Result<Agent.StatusReport, any Error>)] = []
            for await result in group { all.append(result) }
            return all
        }
        let now = Date()
        for (target, result) in results {
            var o = observations[target.node]!
            o.checkedAt = now
            switch result {
            case .success(let report):
                o.reachable = true
                o.error = nil
                o.role = report.role.rawValue
                o.deploymentHash = report.deploymentHash
                deploymentPaths[target.node] = ([report.binary?.path].compactMap { $0 } + report.configFiles.map(\.path))
                    .map { ($0 as NSString).lastPathComponent }.joined(separator: "\n")
                o.filesEpoch = report.files?.epoch
                o.filesPrimaryRegion = report.files?.primaryRegion
                o.filesRefusal = report.files?.refusal
                o.files = report.files?.paths.map {
                    .init(name: $0.name, ageSeconds: $0.ageSeconds(now: now), lastBytes: $0.lastBytes, errors: $0.errors, lastError: $0.lastError)
                } ?? []
                let isSource = report.files?.source == true
                for path in o.files {
                    // The source region is current by definition: 0, so "stale" alerts watch destinations only.
                    Gauge(label: "lifeboat_files_age_seconds", dimensions: [("node", target.node), ("path", path.name)])
                        .record(isSource ? 0 : (path.ageSeconds ?? -1))
                    Gauge(label: "lifeboat_files_errors", dimensions: [("node", target.node), ("path", path.name)]).record(Double(path.errors))
                }
            case .failure(let error):
                o.reachable = false
                o.error = "\(error)"
            }
            up[target.node]?.record(o.reachable ? 1 : 0)
            observations[target.node] = o
        }
        await markDrift()
    }

    private func markDrift() async {
        let primaryRegion = await settledOrder()?.primaryRegion
        let groups = Dictionary(grouping: targets.filter { deploymentPaths[$0.node] != nil }) { deploymentPaths[$0.node]! }
        for (paths, members) in groups where !paths.isEmpty {
            let hashes = members.compactMap { t in observations[t.node]?.deploymentHash.map { (t, $0) } }
            let reference = hashes.first { $0.0.region == primaryRegion }?.1
                ?? Dictionary(grouping: hashes.map(\.1)) { $0 }.max { $0.value.count < $1.value.count }?.key
            for (target, hash) in hashes {
                let drifted = reference != nil && hash != reference
                if drifted, observations[target.node]?.drift == false {
                    logger.warning("deployment drift", metadata: ["node": "\(target.node)", "region": "\(target.region)"])
                }
                observations[target.node]?.drift = drifted
                drift[target.node]?.record(drifted ? 1 : 0)
            }
        }
    }

    /// Sends `sync-now` with the current order to every agent with file replication that has not
    /// acknowledged it yet (at most once per poll interval each). An agent that refuses because it
    /// already follows a newer epoch is logged, not retried.
    public func announce() async {
        guard let order = await settledOrder() else { return }
        let now = ContinuousClock.now
        let due = targets.filter { target in
            guard announced[target.node] != order, let o = observations[target.node], o.reachable, o.filesEpoch != nil else { return false }
            if let last = attempted[target.node], last.order == order, last.at.duration(to: now) < interval { return false }
            return true
        }
        guard !due.isEmpty else { return }
        for target in due { attempted[target.node] = (order, now) }
        let results = await withTaskGroup(of: (Target, Result<Agent.FilesStatus, any Error>).self) { group in
            for target in due {
                group.addTask {
                    do {
                        return (target, .success(try await target.client.syncNow(epoch: Epoch(order.epoch), primaryRegion: order.primaryRegion,
                                                                                 timeout: .seconds(60))))
                    } catch { return (target, .failure(error)) }
                }
            }
            var all: [(Target, Result<Agent.FilesStatus, any Error>)] = []
            for await result in group { all.append(result) }
            return all
        }
        for (target, result) in results {
            switch result {
            case .success(let status):
                announced[target.node] = order
                observations[target.node]?.filesEpoch = status.epoch
                observations[target.node]?.filesPrimaryRegion = status.primaryRegion
                logger.notice("file replication follows the primary", metadata: [
                    "node": "\(target.node)", "files.epoch": "\(order.epoch)", "files.primary_region": "\(order.primaryRegion)",
                ])
            case .failure(let failure as AgentClient.Failure) where failure.status == 409:
                announced[target.node] = order
                logger.error("agent refused the epoch", metadata: ["node": "\(target.node)", "error": "\(failure.description)"])
            case .failure(let error):
                logger.warning("sync-now failed; retrying next interval", metadata: ["node": "\(target.node)", "error": "\(error)"])
            }
        }
    }
}
