import Foundation
import Hummingbird
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import Logging

/// One `lifeboat agent` per sandbox region, on the region's own loopback address: health,
/// signed fencing, and file replication of `<sandbox>/<region>/files/uploads` with real rsync.
/// The monitor (its agents: section names them) tells them the epoch and primary region.
public final class SandboxAgents: Sendable {
    public static let interval: Duration = .seconds(1)
    public let agents: [String: Agent]
    let nodes: [(name: String, region: String)]
    public let urls: [String: String]
    public let key: String
    private let tasks = Mutex<[Task<Void, Never>]>([])

    /// `uploads` in `region`: where the drill writes and looks for files.
    public static func uploads(_ cluster: SandboxCluster, region: String) -> String { "\(cluster.directory)/\(region)/files/uploads" }

    /// `monitor`: the monitor's API URL, where the primary's agent renews its lease (nil: no lease);
    /// `monitors`: every monitor's, with several monitors over etcd.
    /// `bandwidthLimitKiB`: rsync's --bwlimit for every pull (a test slows a large pull down with it).
    public init(cluster: SandboxCluster, monitor: String? = nil, monitors: [String]? = nil, bandwidthLimitKiB: Int? = nil, logger: Logger) throws {
        let leaseMonitors = monitors ?? monitor.map { [$0] }
        key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let port = try FreePort.find(bindableOn: cluster.nodes.map(\.address))
        let peers = cluster.nodes.map { FilesConfig.Peer(region: $0.region, source: .local("\(cluster.directory)/\($0.region)/files")) }
        var agents: [String: Agent] = [:]
        var urls: [String: String] = [:]
        for node in cluster.nodes {
            try FileManager.default.createDirectory(atPath: Self.uploads(cluster, region: node.region), withIntermediateDirectories: true)
            let files = FilesConfig(paths: [.init(name: "uploads", path: Self.uploads(cluster, region: node.region))], interval: Self.interval,
                                    timeout: .seconds(120), bandwidthLimitKiB: bandwidthLimitKiB, peers: peers, primaryRegion: cluster.primary.region,
                                    stateFile: "\(cluster.directory)/\(node.region)/agent-files.json")
            var config = AgentConfiguration(node: node.name, region: node.region, listen: HostPort(host: node.address, port: port),
                                            key: .inline(Secret(key)), cacheFor: .milliseconds(500), database: node.config,
                                            checks: [AgentCheck(name: "database", kind: .postgresql)], files: files,
                                            stateFile: "\(cluster.directory)/\(node.region)/agent-state.json",
                                            lease: leaseMonitors.map { LeaseConfig(monitors: $0, renewEvery: .seconds(1)) })
            // Rejoin and replica init: the sandbox's servers run as postgres (when started as root)
            // and replicate as postgres over loopback with trust.
            config.postgresql = PostgresControl(binDirectory: cluster.installation.binDirectory, dataDirectory: node.dataDirectory,
                                                runAs: CommandRunner.isRoot ? "postgres" : nil, logFile: node.logFile,
                                                replicationUser: "postgres", sslmode: .disable,
                                                commandPrefix: cluster.commandPrefix(for: node))
            var agentLogger = logger
            agentLogger[metadataKey: "agent"] = "\(node.name)"
            agents[node.name] = try Agent(config: config, logger: agentLogger)
            urls[node.name] = "http://\(node.address):\(port)"
        }
        self.agents = agents
        self.urls = urls
        nodes = cluster.nodes.map { ($0.name, $0.region) }
    }

    /// Starts every agent's HTTP server and replication loop; returns once every agent answers.
    public func start(logger: Logger) async throws {
        var started: [Task<Void, Never>] = []
        for agent in agents.values {
            let app = try buildAgentApplication(agent: agent, logger: logger)
            started.append(Task { try? await app.run() })
            if let replicator = agent.replicator { started.append(Task { await replicator.run() }) }
            if let keeper = agent.leaseKeeper { started.append(Task { await keeper.run() }) }
        }
        tasks.withLock { $0 = started }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        for (name, url) in urls {
            let client = AgentClient(baseURL: url, node: name, key: key)
            while (try? await client.status(timeout: .seconds(1))) == nil {
                guard clock.now < deadline else { throw AgentError("the sandbox agent for \(name) did not start listening on \(url)") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    public func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        for task in tasks.withLock({ $0 }) { await task.value }
        for agent in agents.values { await agent.shutdown() }
    }
}

import Synchronization
