import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatEngine
import LifeboatMonitor
import Logging
import Synchronization

/// The network faults a partition drill injects (`lifeboat drill --sandbox --scenario NAME`).
public enum PartitionScenario: String, CaseIterable, Sendable {
    /// The primary's whole region is cut off silently: a failover must happen, and the old primary
    /// must not acknowledge a single write after the promotion.
    case isolatePrimary = "isolate-primary"
    /// Only the monitor loses the primary's region; the regions still reach each other: no failover.
    case cutMonitor = "cut-monitor"
    /// The primary's region is cut silently for 1, 2 and 3 s (each shorter than the lease): no failover.
    case blip
    /// As `isolate-primary`, then the old primary is killed, the network heals and the old primary
    /// is started again with its old data: it must not acknowledge a write.
    case returnOfTheOldPrimary = "return-of-the-old-primary"
    /// Three monitors over etcd: the primary's postmaster dies, and the leading monitor is killed
    /// (SIGKILL) the moment it has stored the new epoch: another must finish the same failover.
    case monitorCrash = "monitor-crash"
    /// Three monitors over etcd: etcd's raft leader member is killed: no failover, the primary keeps
    /// its lease and its region's writes go on.
    case etcdMemberLoss = "etcd-member-loss"

    public var summary: String {
        switch self {
        case .isolatePrimary: "the primary's region cut off silently (nftables drop, both ways)"
        case .cutMonitor: "the monitor cut off from the primary's region; the regions still reach each other"
        case .blip: "the primary's region cut off silently for 1 s, 2 s and 3 s, healing in between"
        case .returnOfTheOldPrimary: "the primary's region cut off, then the old primary restarted with its old data after the network healed"
        case .monitorCrash: "the primary's postmaster killed, and the leading monitor killed as soon as it stored the new epoch"
        case .etcdMemberLoss: "etcd's raft leader member killed"
        }
    }

    /// Runs only with several monitors over etcd.
    public var needsSeveralMonitors: Bool { self == .monitorCrash || self == .etcdMemberLoss }

    /// A failover is the right outcome.
    public var expectsFailover: Bool {
        switch self {
        case .isolatePrimary, .returnOfTheOldPrimary, .monitorCrash: true
        case .cutMonitor, .blip, .etcdMemberLoss: false
        }
    }
}

/// A drill across network namespaces: each region (its PostgreSQL, its agent as a separate
/// `lifeboat agent` process, and a client as a `lifeboat drill-client` process) in a namespace of
/// its own, the monitor and the DNS server in this process's namespace (the witness), and faults
/// injected as silent nftables drops. The primary region's client keeps writing to its own
/// region's server; the other region's client finds the primary through DNS on every connection.
/// Invariants are checked on every acknowledged write and on a poll of both servers.
public struct PartitionDrill: Sendable {
    public var scenario: PartitionScenario
    /// The `lifeboat` executable the agents and clients run as.
    public var binary: String
    public var detection: DetectionSettings
    public var policy: FailoverPolicy
    public var install: Bool
    public var logger: Logger
    /// How long the monitor is cut off in `cut-monitor`, in lease TTLs.
    public var cutMonitorTTLs = 3
    /// 1: one monitor in this process (the witness). 3: `lifeboat monitor` processes in each region
    /// and on the witness over a three-member etcd (one member in each), the one in the primary's
    /// region leading when the fault comes.
    public var monitors = 1
    /// The monitors' etcd session (several monitors).
    public static let sessionTTLSeconds = 3

    static let regions = ["us-east", "eu-west"]
    /// The lease a drill runs with unless its config sets `failover.lease_ttl` (the agents renew every 500 ms).
    public static let defaultLeaseTTL: Duration = .seconds(4)

    public init(scenario: PartitionScenario, binary: String, detection: DetectionSettings = .default, policy: FailoverPolicy = .default,
                install: Bool = true, monitors: Int? = nil, logger: Logger) {
        self.monitors = monitors ?? (scenario.needsSeveralMonitors ? 3 : 1)
        self.scenario = scenario
        self.binary = binary
        self.detection = detection
        self.policy = policy
        self.install = install
        self.logger = logger
    }

    /// One acknowledged write, as a client printed it.
    struct Ack: Sendable {
        var client: Int
        var seq: Int
        var address: String
        var at: Int64
    }

    /// Builds everything, runs the scenario, measures, and removes everything (also on error or
    /// cancellation).
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> DrillReport {
        switch NetworkLab.unavailable() {
        case .notRoot?: throw DrillFailure(NetworkLab.Obstacle.notRoot.description)
        case .missingTool(let path, let package)? where !install: throw DrillFailure(NetworkLab.Obstacle.missingTool(path: path, package: package).description)
        case .missingTool?, nil: break  // installed below
        }
        try await NetworkLab.ensureTools(install: install, log: progress)
        let installation = try await PostgresInstallation.ensure(install: install, log: progress)
        try await KnotServer.ensureInstalled(install: install, log: progress)
        guard monitors == 1 || monitors == 3 else { throw DrillFailure("a partition drill runs 1 or 3 monitors, not \(monitors)") }
        if scenario.needsSeveralMonitors, monitors != 3 { throw DrillFailure("\(scenario.rawValue) needs three monitors over etcd (--monitors 3)") }
        if monitors > 1 { try await EtcdServer.ensureInstalled(install: install, log: progress) }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw DrillFailure("\(binary) is not an executable: the drill runs agents and clients as lifeboat processes")
        }
        let lab = try await NetworkLab.create(regions: Self.regions)
        progress("network lab \(lab.id): \(Self.regions.indices.map { "\(Self.regions[$0]) in namespace \(lab.namespace($0)) (\(lab.address($0)))" }.joined(separator: ", ")); monitor and DNS at \(lab.witnessAddress)")
        var processes: [LabProcess] = []
        var knot: KnotServer?
        var cluster: SandboxCluster?
        do {
            // PostgreSQL's own wal_receiver_timeout (60 s): the lease, not the WAL receiver, decides.
            let built = try SandboxCluster(regions: Self.regions, installation: installation, network: lab, tunedTimeouts: false)
            cluster = built
            progress("starting PostgreSQL \(installation.version) in the regions' namespaces (wal_receiver_timeout and wal_sender_timeout at PostgreSQL's defaults)")
            try await built.start()
            let server = try KnotServer(zone: SandboxDrill.zone, records: ["app 0 IN A \(built.primary.address)"], host: lab.witnessAddress)
            knot = server
            try await server.waitUntilServing()
            let report = try await drill(built, lab: lab, knot: server, processes: &processes, progress: progress)
            await Self.teardown(processes, knot: knot, cluster: cluster, lab: lab)
            return report
        } catch {
            await Self.teardown(processes, knot: knot, cluster: cluster, lab: lab)
            throw error
        }
    }

    /// Stops everything and removes the lab, in a task of its own: an interrupted (cancelled) drill
    /// still cleans up completely.
    static func teardown(_ processes: [LabProcess], knot: KnotServer?, cluster: SandboxCluster?, lab: NetworkLab) async {
        await Task.detached { await removeAll(processes, knot: knot, cluster: cluster, lab: lab) }.value
    }

    private static func removeAll(_ processes: [LabProcess], knot: KnotServer?, cluster: SandboxCluster?, lab: NetworkLab) async {
        await withTaskGroup(of: Void.self) { group in
            for process in processes { group.addTask { await process.stop() } }
        }
        knot?.stop()
        if let cluster { await Task.detached { await cluster.destroy() }.value }
        await lab.destroy()
    }

    private func drill(_ cluster: SandboxCluster, lab: NetworkLab, knot: KnotServer, processes: inout [LabProcess],
                       progress: @escaping @Sendable (String) -> Void) async throws -> DrillReport {
        let clock = ContinuousClock()
        let time = MonotonicTime()
        let primary = cluster.primary, standby = cluster.standbys[0]
        try await cluster.psql(primary, WorkloadWriter.createTableSQL)
        try await cluster.waitForStreaming(timeout: .seconds(10))

        // The agents: real `lifeboat agent` processes in their regions.
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let keyFile = "\(cluster.directory)/agent.key"
        guard FileManager.default.createFile(atPath: keyFile, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw DrillFailure("cannot write the agents' key file \(keyFile)")
        }
        let apiPort = try FreePort.find(bindableOn: [lab.witnessAddress])
        // One monitor: at the witness. Three: in each region (port 8547 in its namespace) and at the witness.
        let monitorURLs = monitors == 1 ? ["http://\(lab.witnessAddress):\(apiPort)"]
            : cluster.nodes.map { "http://\($0.address):8547" } + ["http://\(lab.witnessAddress):\(apiPort)"]
        var ttl = policy.leaseTTL ?? PartitionDrill.defaultLeaseTTL
        ttl = max(ttl, .seconds(3))
        for (index, node) in cluster.nodes.enumerated() {
            let file = "\(cluster.directory)/\(node.region)/agent.yml"
            let yaml = """
                version: 1
                node: \(node.name)
                region: \(node.region)
                listen: \(node.address):8548
                key_file: \(keyFile)
                cache: 500ms
                state_file: \(cluster.directory)/\(node.region)/agent-state.json
                database:
                  host: \(node.address)
                  port: \(node.port)
                  user: postgres
                  dbname: postgres
                fence:
                  method: read-only
                checks:
                  - name: database
                    type: postgresql
                    timeout: 1s
                lease:
                  monitor: [\(monitorURLs.joined(separator: ", "))]
                  renew_every: 500ms

                """
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            processes.append(try LabProcess(name: "agent \(node.name)", role: .agent, command: lab.exec(index) + [binary, "agent", "--config", file, "--log-level", "notice"],
                                            logFile: "\(cluster.directory)/\(node.region)/agent.log"))
        }
        let agentURLs = Dictionary(uniqueKeysWithValues: cluster.nodes.map { ($0.name, "http://\($0.address):8548") })
        for node in cluster.nodes {
            let client = AgentClient(baseURL: agentURLs[node.name]!, node: node.name, key: key)
            // A debug build starting on a loaded 2-core machine can take a while; if it never
            // answers, say whether it still runs and what it logged.
            do {
                try await waitUntil(clock, .seconds(30), "the agent of \(node.name) answering") { (try? await client.status(timeout: .seconds(1))) != nil }
            } catch let timeout as DrillTimeout {
                let process = processes.first { $0.role == .agent && $0.name == "agent \(node.name)" }
                throw DrillFailure("\(timeout); its process \(process?.isRunning == true ? "runs" : "has exited"); its log ends: \(process?.logTail(10) ?? "(none)")")
            }
        }
        progress("agents running in their regions (\(agentURLs.values.sorted().joined(separator: ", "))), lease TTL \(DurationText.format(ttl))")

        // The monitor, in this process (the witness region), exactly as lifeboat monitor builds it.
        var policy = self.policy
        policy.leaseTTL = ttl
        var nodes = cluster.nodes.map(\.config)
        for index in nodes.indices { nodes[index].agent = agentURLs[nodes[index].name] }
        let token = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let config = LifeboatConfiguration(
            cluster: "partition-drill", topology: cluster.topology, databaseNodes: nodes, detection: detection, failover: policy,
            dns: DNSConfig(provider: .rfc2136(.init(server: HostPort(host: knot.host, port: knot.port), keyName: knot.keyName,
                                                    keySecret: .inline(Secret(knot.keySecret)))),
                           zone: SandboxDrill.zone, record: SandboxDrill.recordName, ttl: 0,
                           targets: Dictionary(uniqueKeysWithValues: cluster.nodes.map { ($0.region, [IPv4($0.address)!]) }),
                           verifyServers: [HostPort(host: knot.host, port: knot.port)]),
            api: APIConfig(listen: HostPort(host: lab.witnessAddress, port: apiPort), token: .inline(Secret(token))),
            agents: AgentsConfig(key: .inline(Secret(key)), timeout: .seconds(1), interval: .seconds(2)))
        let view: any DrillMonitorView
        var monitorTask: Task<Void, any Error>?
        var several: SeveralMonitors?
        if monitors == 1 {
            let monitor = try MonitorAssembly(config: config, statePath: "\(cluster.directory)/monitor/state.db", logger: logger,
                                              options: .init(signals: []))
            guard let engine = monitor.engine else { throw DrillFailure("the drill's monitor has no engine of its own") }
            monitorTask = Task { try await monitor.run() }
            view = EmbeddedMonitorView(engine: engine)
        } else {
            let started = try await SeveralMonitors.start(cluster: cluster, lab: lab, binary: binary, config: config, witnessPort: apiPort,
                                                          agentKeyFile: keyFile, processes: &processes, progress: progress)
            several = started
            view = EtcdMonitorView(client: started.witnessClient, cluster: config.cluster,
                                   lease: LeaseClient(monitors: monitorURLs, node: primary.name, key: key))
        }
        defer { monitorTask?.cancel() }

        // One client per region, as separate processes in the regions' namespaces.
        let acks = Mutex<[Ack]>([])
        for (index, node) in cluster.nodes.enumerated() {
            var command = lab.exec(index) + [binary, "drill-client", "--first-seq", String((index + 1) * 1_000_000), "--pause-ms", "50",
                                             "--max-seconds", "900", "--port", String(node.port)]
            command += index == 0 ? ["--host", node.address]
                : ["--name", SandboxDrill.recordName, "--zone", SandboxDrill.zone, "--dns-server", "\(knot.host):\(knot.port)"]
            processes.append(try LabProcess(name: "client \(node.region)", role: .client, command: command, logFile: "\(cluster.directory)/\(node.region)/client.log") { line in
                let parts = line.split(separator: " ")
                guard parts.count == 4, parts[0] == "ack", let seq = Int(parts[1]), let at = Int64(parts[3]) else { return }
                acks.withLock { $0.append(Ack(client: index, seq: seq, address: String(parts[2]), at: at)) }
            })
        }
        let clientNames = ["\(primary.region) (keeps its connection to \(primary.address))", "\(standby.region) (resolves \(SandboxDrill.recordName) per connection)"]

        // Both servers' writability, polled over their unix sockets (never through the network).
        let writable = Mutex<[(at: Int64, nodes: [String])]>([])
        let watcher = Task {
            while !Task.isCancelled {
                var open: [String] = []
                for node in cluster.nodes {
                    let out = try? await cluster.psql(node, "SELECT NOT pg_is_in_recovery() AND current_setting('default_transaction_read_only') = 'off'")
                    if out?.trimmingCharacters(in: .whitespacesAndNewlines) == "t" { open.append(node.name) }
                }
                let now = MonotonicTime.nanoseconds()
                writable.withLock { $0.append((now, open)) }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { watcher.cancel() }

        try await waitUntil(clock, .seconds(30), "steady state (primary watched, standby streaming, lease held, both clients writing)") {
            guard await view.watching() == primary.name else { return false }
            let receiver = try? await cluster.psql(standby, "SELECT status FROM pg_stat_wal_receiver")
            guard receiver?.trimmingCharacters(in: .whitespacesAndNewlines) == "streaming" else { return false }
            guard await view.leaseHeld(by: primary.name, after: nil) else { return false }
            let counts = acks.withLock { all in (0..<2).map { c in all.filter { $0.client == c }.count } }
            return counts.allSatisfy { $0 >= 20 }
        }
        progress("steady state: \(primary.name) primary, \(standby.name) streaming, lease held; clients writing in both regions")

        // The fault, at a random moment of the lease's renewal cycle (not in step with the drill's start).
        try await clock.sleep(for: .milliseconds(Int.random(in: 0..<1000)))
        let faultAt = clock.now
        var problems: [String] = []
        var faultText = ""
        var healedAt: ContinuousClock.Instant?
        var blips: [String] = []
        switch scenario {
        case .isolatePrimary, .returnOfTheOldPrimary:
            try await lab.cut(0, .everything)
            faultText = "\(primary.region) (\(primary.address)) cut off: every packet in and out dropped silently"
            do {
                try await waitUntil(clock, .seconds(60), "failover and a write on the new primary") {
                    guard await view.watching() == standby.name else { return false }
                    let t = time.nanoseconds(of: faultAt)
                    return acks.withLock { $0.contains { $0.client == 1 && $0.address == standby.address && $0.at > t } }
                }
            } catch {
                problems.append("\(error)")
            }
            // The old primary's region stays cut a while longer: its client keeps trying.
            try await clock.sleep(for: .seconds(3))
            if scenario == .returnOfTheOldPrimary {
                let pid = try await cluster.kill(primary)
                try await lab.heal(0)
                healedAt = clock.now
                try await waitUntil(clock, .seconds(10), "the old primary's postmaster gone") { kill(pid, 0) != 0 }
                // Its old data as it was before any fence (a restore, or a fence that never took):
                // nothing in its own configuration keeps it read-only.
                try await cluster.forgetReadOnlyFence(primary)
                // Started as its systemd unit starts it: ExecStartPre runs the agent's --prepare-start.
                let prepared = try await CommandRunner().run(binary, ["agent", "--config", "\(cluster.directory)/\(primary.region)/agent.yml",
                                                                      "--prepare-start", primary.dataDirectory], asUser: false)
                try await cluster.restart(primary)
                faultText += "; after the failover its postmaster was killed, the network healed, its read-only fence was removed from its data "
                    + "(old data from before the fence) and it was started again as its unit does (\(prepared.trimmingCharacters(in: .whitespacesAndNewlines)))"
            } else {
                try await lab.heal(0)
                healedAt = clock.now
                faultText += "; healed after the failover"
            }
            // Watch the healed old primary for a while: not one write may be acknowledged there.
            try await clock.sleep(for: .seconds(4))
        case .cutMonitor:
            try await lab.cut(0, .only([lab.witnessAddress]))
            let hold = ttl * cutMonitorTTLs
            faultText = "the monitor (\(lab.witnessAddress)) cut off from \(primary.region) for \(DurationText.format(hold)); replication and the agents' paths keep working"
            try await clock.sleep(for: hold)
            try await lab.heal(0)
            healedAt = clock.now
            try await waitUntil(clock, .seconds(30), "the monitor watching \(primary.name) again with its lease renewed") {
                guard await view.watching() == primary.name else { return false }
                return await view.leaseHeld(by: primary.name, after: healedAt)
            }
        case .blip:
            for seconds in [1, 2, 3] {
                let start = clock.now
                try await lab.cut(0, .everything)
                try await clock.sleep(for: .seconds(seconds))
                try await lab.heal(0)
                let healed = clock.now
                do {
                    try await waitUntil(clock, .seconds(30), "recovery after the \(seconds) s cut") {
                        guard await view.watching() == primary.name else { return false }
                        guard await view.leaseHeld(by: primary.name, after: healed) else { return false }
                        let t = time.nanoseconds(of: healed)
                        return acks.withLock { $0.contains { $0.client == 0 && $0.at > t } }
                    }
                    blips.append("\(seconds) s cut: recovered \(DurationText.format(healed.duration(to: clock.now))) after healing")
                } catch {
                    problems.append("after the \(seconds) s cut: \(error)")
                }
                _ = start
            }
            healedAt = clock.now
            faultText = "\(primary.region) cut off silently for 1 s, 2 s and 3 s (lease \(DurationText.format(ttl))): " + blips.joined(separator: "; ")
        case .monitorCrash:
            guard let several else { throw DrillFailure("monitor-crash needs three monitors") }
            _ = try await cluster.kill(primary)
            try await waitUntil(clock, .seconds(30), "the leading monitor storing epoch 1") { await view.epoch() >= 1 }
            let killed = try await several.killLeader()
            faultText = "\(primary.name)'s postmaster killed (SIGKILL); the leading monitor (\(killed)) killed (SIGKILL) as soon as it stored epoch 1"
            do {
                try await waitUntil(clock, .seconds(60), "another monitor finishing the failover and a write on the new primary") {
                    guard await view.watching() == standby.name else { return false }
                    let t = time.nanoseconds(of: faultAt)
                    return acks.withLock { $0.contains { $0.client == 1 && $0.address == standby.address && $0.at > t } }
                }
            } catch {
                problems.append("\(error)")
            }
        case .etcdMemberLoss:
            guard let several else { throw DrillFailure("etcd-member-loss needs three monitors") }
            let killed = try await several.killRaftLeader()
            faultText = "etcd's raft leader (\(killed)) killed (SIGKILL); two members of three remain"
            try await clock.sleep(for: ttl * 3)
            try await waitUntil(clock, .seconds(30), "a monitor watching \(primary.name) with its lease held") {
                guard await view.watching() == primary.name else { return false }
                return await view.leaseHeld(by: primary.name, after: nil)
            }
        }

        // Stop the clients, then measure.
        for process in processes where process.role == .client { await process.stop() }
        watcher.cancel()
        let watched = await view.watching()
        let journal = await view.journal()
        let promotionsSeen = journal.filter { if case .stepSucceeded(.promote, _) = $0.kind { return true } else { return false } }
        let promoteStarted = journal.first { if case .stepStarted(.promote, _) = $0.kind { return $0.at > faultAt } else { return false } }
        let all = acks.withLock { $0 }
        let faultNs = time.nanoseconds(of: faultAt)
        let newPrimary: String? = if let watched, watched != primary.name { watched } else { nil }
        let afterPromotion = promoteStarted.map { time.nanoseconds(of: $0.at) }
        let oldAfter = afterPromotion.map { t in all.filter { $0.address == primary.address && $0.at > t }.count } ?? 0
        let firstNew = all.filter { $0.client == 1 && $0.address == standby.address && $0.at > faultNs }.min { $0.at < $1.at }
        let rto = newPrimary == nil ? nil : firstNew.map { Double($0.at - faultNs) / 1e9 }

        // Two writable servers at the same poll?
        let polls = writable.withLock { $0 }
        let doubled = polls.filter { $0.nodes.count > 1 }
        // Acknowledged writes missing where the data now lives.
        let survivor = newPrimary.flatMap { name in cluster.nodes.first { $0.name == name } } ?? primary
        let rows = (try? await cluster.psql(survivor, "SELECT seq FROM \(WorkloadWriter.table)")) ?? ""
        let present = Set(rows.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        let lost = all.filter { !present.contains($0.seq) }
        // The longest pause in the primary region's writes from the fault on (before any failover).
        let primaryAcks = all.filter { $0.client == 0 && $0.at >= faultNs }.map(\.at).sorted()
        var longestGap = 0.0
        var previous = faultNs
        let end = time.nanoseconds(of: healedAt ?? clock.now)
        for at in primaryAcks where at <= end {
            longestGap = max(longestGap, Double(at - previous) / 1e9)
            previous = at
        }
        if scenario.expectsFailover == false { longestGap = max(longestGap, Double(end - previous) / 1e9) }
        if scenario == .etcdMemberLoss, longestGap > ttl.seconds {
            problems.append("the primary region's writes stopped for \(format3(longestGap)) s when an etcd member was lost (lease \(DurationText.format(ttl)))")
        }

        let epoch = await view.epoch()
        if scenario.expectsFailover {
            if promotionsSeen.count != 1 { problems.append("expected exactly one promotion, saw \(promotionsSeen.count)") }
            if newPrimary == nil { problems.append("no new primary: the acting monitor watches \(watched ?? "no primary")") }
            if oldAfter > 0 { problems.append("the old primary acknowledged \(oldAfter) writes after the promotion began (split brain)") }
        } else {
            if !promotionsSeen.isEmpty { problems.append("false failover: \(promotionsSeen.count) promotion(s) although the primary was healthy") }
            if epoch != 0 { problems.append("the epoch moved to \(epoch) although no failover should have started") }
            if !lost.isEmpty { problems.append("\(lost.count) acknowledged writes lost although no failover should have happened") }
        }
        if !doubled.isEmpty {
            problems.append("two servers accepted writes at the same moment in \(doubled.count) polls (first at +\(format3(Double(doubled[0].at - faultNs) / 1e9))s: \(doubled[0].nodes.joined(separator: ", ")))")
        }
        let perEpoch = Dictionary(grouping: promotionsSeen, by: \.epoch).filter { $0.value.count > 1 }
        if !perEpoch.isEmpty { problems.append("more than one promotion under epoch \(perEpoch.keys.map(String.init).joined(separator: ", "))") }

        var timeline = [DrillReport.Step(at: 0, event: "fault", detail: faultText)]
        timeline += journal.filter { $0.at >= faultAt }.compactMap { entry in
            guard let (event, detail) = SandboxDrill.describe(entry) else { return nil }
            return DrillReport.Step(at: faultAt.duration(to: entry.at).seconds, event: event, detail: detail)
        }
        if let healedAt { timeline.append(.init(at: faultAt.duration(to: healedAt).seconds, event: "healed", detail: "the cut lifted")) }
        if let firstNew, newPrimary != nil {
            timeline.append(.init(at: Double(firstNew.at - faultNs) / 1e9, event: "write", detail: "first write acknowledged on \(standby.name) for the \(standby.region) client (row \(firstNew.seq))"))
        }
        if let lastOld = all.filter({ $0.address == primary.address && $0.at > faultNs }).max(by: { $0.at < $1.at }), scenario.expectsFailover {
            timeline.append(.init(at: Double(lastOld.at - faultNs) / 1e9, event: "last-old", detail: "last write acknowledged by the old primary \(primary.name) (row \(lastOld.seq))"))
        }
        timeline.sort { $0.at < $1.at }
        if !problems.isEmpty {
            for process in processes where process.role == .agent || process.role == .monitor {
                logger.notice("\(process.name) log tail:\n\(process.logTail())")
            }
        }

        var report = DrillReport(
            kind: "partition drill: \(cluster.nodes.count) regions in network namespaces (lab \(lab.id), \(lab.subnet).0/24), "
                + (monitors == 1 ? "monitor and DNS in the witness namespace, "
                    : "three monitors over a three-member etcd (one of each per region and at the witness; the primary region's monitor led), DNS at the witness, ")
                + scenario.summary,
            scenario: scenario.rawValue,
            nodes: cluster.nodes.enumerated().map { index, node in
                DrillReport.Node(name: node.name, region: node.region, role: index == 0 ? "primary" : "standby", address: "\(node.address):\(node.port)")
            },
            detection: DrillReport.Detection(
                interval: DurationText.format(detection.interval), timeout: DurationText.format(detection.timeout),
                suspectInterval: DurationText.format(detection.suspectInterval),
                failureThreshold: detection.failureThreshold, recoveryThreshold: detection.recoveryThreshold),
            fault: faultText, timeline: timeline, rtoSeconds: rto,
            failoverSeconds: newPrimary == nil ? nil : journal.first { entry in
                if case .transition(.switchingTraffic, .monitoring) = entry.kind { return entry.at > faultAt } else { return false }
            }.map { faultAt.duration(to: $0.at).seconds },
            trafficSwitchSeconds: nil, rpoLostWrites: lost.count,
            rpoSeconds: max(0, (lost.map(\.at).min().map { Double(faultNs - $0) / 1e9 }) ?? 0),
            promotions: promotionsSeen.count, newPrimary: newPrimary, epoch: epoch,
            writesBeforeFault: all.filter { $0.at < faultNs }.count, writesAcknowledged: all.count,
            passed: problems.isEmpty, problems: problems, files: nil,
            ackedWritesLost: lost.count, writesAckedByOldPrimaryAfterPromotion: oldAfter)
        report.partition = DrillReport.PartitionFigures(
            leaseTTL: DurationText.format(ttl),
            writesAckedByOldPrimaryAfterPromotion: oldAfter,
            ackedWritesLost: lost.count,
            twoWritablePolls: doubled.count,
            writabilityPolls: polls.count,
            longestPrimaryRegionWriteGapSeconds: longestGap,
            clients: (0..<2).map { c in
                DrillReport.PartitionFigures.Client(region: clientNames[c], acknowledged: all.filter { $0.client == c }.count,
                                                    afterFault: all.filter { $0.client == c && $0.at > faultNs }.count)
            })
        return report
    }

    private func waitUntil(_ clock: ContinuousClock, _ timeout: Duration, _ what: String, _ condition: () async -> Bool) async throws {
        try await DrillTimeout.wait(timeout, what, condition)
    }
}
