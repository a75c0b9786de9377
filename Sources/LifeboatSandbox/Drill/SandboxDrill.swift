import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatEngine
import LifeboatHTTP
import LifeboatMonitor
import LifeboatPorts
import Logging
import Prometheus

/// The main job: builds regions on this machine (each on its own loopback address of a block
/// reserved for this drill), runs the monitor exactly as `lifeboat monitor` does (the same
/// `MonitorAssembly`: engine, SQLite state, API, agent coordinator), injects a scenario's fault
/// while a client writes, and measures RTO and RPO.
public struct SandboxDrill: Sendable {
    public var detection: DetectionSettings
    public var policy: FailoverPolicy
    public var regions: [String]
    /// Install PostgreSQL with apt-get when missing (needs root).
    public var installPostgres: Bool
    /// Give up waiting for the failover after this long.
    public var failoverTimeout: Duration
    /// Run a real authoritative DNS server (Knot) and have the client find the primary through
    /// `app.lifeboat.sandbox`; the failover then includes the traffic switch and its verification.
    public var useDNS: Bool
    /// What is done to the cluster.
    public var scenario: any DrillScenario
    /// Run an agent per region (fencing through it, file replication with rsync) and show files
    /// following the primary.
    public var useAgents: Bool
    /// Serve the monitor's /metrics from this registry (the process bootstrapped swift-metrics with it).
    public var metrics: PrometheusCollectorRegistry?
    /// After the failover: rejoin the old primary with pg_rewind, switch over back, and check the
    /// cluster ends as it began (needs agents).
    public var failback = false
    /// Writers inserting at once (each on its own connection); the first one times the RTO.
    public var writers = 1

    public static let zone = "lifeboat.sandbox"
    public static let recordName = "app.lifeboat.sandbox"
    public var logger: Logger

    public init(detection: DetectionSettings = .default, policy: FailoverPolicy = .default, regions: [String] = ["us-east", "eu-west"],
                installPostgres: Bool = true, failoverTimeout: Duration = .seconds(60), useDNS: Bool = true,
                scenario: any DrillScenario = KillPrimaryScenario(), useAgents: Bool = true, metrics: PrometheusCollectorRegistry? = nil,
                logger: Logger) {
        self.useAgents = useAgents
        self.useDNS = useDNS
        self.scenario = scenario
        self.detection = detection
        self.policy = policy
        self.regions = regions
        self.installPostgres = installPostgres
        self.failoverTimeout = failoverTimeout
        self.metrics = metrics
        self.logger = logger
    }

    /// Runs one drill; the sandbox is removed afterwards, also on error or cancellation.
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> DrillReport {
        let installation = try await PostgresInstallation.ensure(install: installPostgres, log: progress)
        if useDNS { try await KnotServer.ensureInstalled(install: installPostgres, log: progress) }
        if useAgents { try await DebianPackage.ensure(["/usr/bin/rsync"], packages: ["rsync"], install: installPostgres, log: progress) }
        let cluster = try SandboxCluster(regions: regions, installation: installation)
        var knot: KnotServer?
        do {
            progress("starting PostgreSQL \(installation.version): primary \(cluster.primary.name) and \(cluster.standbys.map(\.name).joined(separator: ", ")) in \(cluster.directory)")
            try await cluster.start()
            if useDNS {
                // TTL 0: the client re-resolves on every reconnect, so client-side caching is
                // excluded from the measurement (and stated in the report).
                let server = try KnotServer(zone: Self.zone, records: ["app 0 IN A \(cluster.primary.address)"], host: cluster.block.dnsAddress)
                knot = server
                progress("starting Knot DNS for \(Self.zone) on \(server.host):\(server.port): \(Self.recordName) -> \(cluster.primary.address)")
                try await server.waitUntilServing()
            }
            let report = try await drill(cluster, knot: knot, progress: progress)
            knot?.stop()
            await Task.detached { await cluster.destroy() }.value
            return report
        } catch {
            knot?.stop()
            await Task.detached { await cluster.destroy() }.value
            throw error
        }
    }

    private func drill(_ cluster: SandboxCluster, knot: KnotServer?, progress: @escaping @Sendable (String) -> Void) async throws -> DrillReport {
        let apiPort = try FreePort.find(bindableOn: [cluster.block.apiAddress])
        let agents = useAgents ? try SandboxAgents(cluster: cluster, monitor: "http://\(cluster.block.apiAddress):\(apiPort)", logger: logger) : nil
        do {
            let report = try await drill(cluster, knot: knot, agents: agents, apiPort: apiPort, progress: progress)
            await agents?.stop()
            return report
        } catch {
            await agents?.stop()
            throw error
        }
    }

    /// The monitor's configuration for the sandbox: the same kind of file an operator writes,
    /// with the sandbox's addresses and freshly made secrets.
    public func monitorConfig(_ cluster: SandboxCluster, knot: KnotServer?, agents: SandboxAgents?, apiPort: Int) throws -> LifeboatConfiguration {
        var nodes = cluster.nodes.map(\.config)
        for index in nodes.indices { nodes[index].agent = agents?.urls[nodes[index].name] }
        let dns = knot.map { knot in
            DNSConfig(provider: .rfc2136(.init(server: HostPort(host: knot.host, port: knot.port), keyName: knot.keyName,
                                               keySecret: .inline(Secret(knot.keySecret)))),
                      zone: Self.zone, record: Self.recordName, ttl: 0,
                      targets: Dictionary(uniqueKeysWithValues: cluster.nodes.map { ($0.region, [IPv4($0.address)!]) }),
                      verifyServers: [HostPort(host: knot.host, port: knot.port)])
        }
        let token = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let api = APIConfig(listen: HostPort(host: cluster.block.apiAddress, port: apiPort), token: .inline(Secret(token)))
        // With agents, the primary holds a lease (the monitor grants it): a drill runs as
        // production with agents does.
        var policy = self.policy
        if agents != nil, policy.leaseTTL == nil { policy.leaseTTL = .seconds(5) }
        return LifeboatConfiguration(
            cluster: "sandbox", topology: cluster.topology, databaseNodes: nodes, detection: detection, failover: policy, dns: dns, api: api,
            agents: agents.map { AgentsConfig(key: .inline(Secret($0.key)), timeout: .seconds(2), interval: SandboxAgents.interval) })
    }

    private func drill(_ cluster: SandboxCluster, knot: KnotServer?, agents: SandboxAgents?, apiPort: Int,
                       progress: @escaping @Sendable (String) -> Void) async throws -> DrillReport {
        let clock = ContinuousClock()
        try await cluster.psql(cluster.primary, WorkloadWriter.createTableSQL)
        try await cluster.waitForStreaming(timeout: .seconds(10))

        if let agents {
            progress("starting an agent per region (\(agents.urls.values.sorted().joined(separator: ", "))): health, fencing, file replication")
            try await agents.start(logger: logger)
        }
        let config = try monitorConfig(cluster, knot: knot, agents: agents, apiPort: apiPort)
        let monitor = try MonitorAssembly(config: config, statePath: "\(cluster.directory)/monitor/state.db", logger: logger,
                                          options: .init(signals: [], metrics: metrics))
        progress("starting the monitor (API on \(monitor.api)), as lifeboat monitor runs it")
        guard let engine = monitor.engine else { throw DrillFailure("the drill runs a single monitor") }
        var target = WorkloadWriter.Target.anyWritable(config.databaseNodes)
        if let knot {
            target = .dns(name: try DNSName(Self.recordName), server: DNSServer(host: knot.host, port: knot.port), zone: try DNSName(Self.zone),
                          port: cluster.primary.port)
        }
        let writer = WorkloadWriter(target: target, logger: logger)
        let others = (1..<max(1, writers)).map { WorkloadWriter(target: target, pause: .zero, firstSeq: $0 * 10_000_000, logger: logger) }
        // The writer names where it wrote by node name or, through DNS, by address.
        let names = Dictionary(uniqueKeysWithValues: cluster.nodes.flatMap { [($0.name, $0.name), ($0.address, $0.name)] })
        let monitorTask = Task { try await monitor.run() }
        let writerTask = Task { await writer.run() }
        let otherTasks = others.map { other in Task { await other.run() } }
        defer {
            monitorTask.cancel()
            writerTask.cancel()
            for task in otherTasks { task.cancel() }
        }

        // Steady state: the engine watches the primary, the standby streams, writes flow.
        let primary = cluster.primary
        try await waitUntil(clock: clock, timeout: .seconds(60), "steady state (primary watched, standby streaming, 50 writes, lease held)") {
            guard case .monitoring(primary.name) = await engine.state else { return false }
            let health = await engine.health
            let standbysStreaming = cluster.standbys.allSatisfy { health[$0.name]?.currentStatus?.isStreaming == true }
            let written = await writer.acks.count
            // With agents, the primary's agent holds its lease before anything is done.
            let lease = await engine.lease
            let leaseHeld = agents == nil || lease.map { $0.holder == primary.name && !$0.released } == true
            return standbysStreaming && written >= 50 && leaseHeld
        }

        if policy.durability.managed, policy.durability.mode != .async {
            // The monitor has made the standby synchronous before anything is done.
            try await waitUntil(clock: clock, timeout: .seconds(20), "a synchronous standby (durability \(policy.durability.mode.rawValue))") {
                let states = (try? await cluster.psql(primary, "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'")) ?? ""
                return states.split(separator: "\n").contains { $0 == "sync" || $0 == "quorum" }
            }
        }

        var beforeFault: [DrillReport.FilesReport.Transfer] = []
        if agents != nil {
            beforeFault = try await replicate("before-fault.txt", from: primary, to: cluster.standbys, epoch: 0, cluster: cluster)
        }

        let faultAt = clock.now
        let faultText = try await scenario.inject(DrillContext(cluster: cluster, monitor: monitor))
        var writesBeforeFault = await writer.acks.count
        for other in others { writesBeforeFault += await other.acks.count }

        var problems: [String] = []
        do {
            try await waitUntil(clock: clock, timeout: failoverTimeout, "failover") {
                switch await engine.state {
                case .monitoring(let p) where p != primary.name:
                    let address = cluster.nodes.first { $0.name == p }?.address ?? p
                    return await writer.hasAck(on: [p, address], after: faultAt)
                case .failed, .trafficNotSwitched:
                    return true
                case .discovering, .monitoring, .confirming, .holding, .failingOver:
                    return false
                }
            }
        } catch {
            problems.append("\(error)")
        }
        // Writes flow on the new primary for a few more acknowledgements, then everything stops.
        let acked = await writer.acks.count
        try? await waitUntil(clock: clock, timeout: .seconds(2), "more writes") { await writer.acks.count >= acked + 10 }
        await writer.stop()
        await writerTask.value
        for other in others { await other.stop() }
        for task in otherTasks { await task.value }

        let state = await engine.state
        let newPrimary: String? = if case .monitoring(let p) = state, p != primary.name { p } else { nil }
        if case .failed(_, let reason) = state { problems.append("failover failed: \(reason)") }
        if case .trafficNotSwitched(_, let reason) = state { problems.append("traffic not switched: \(reason)") }

        var afterFailover: [DrillReport.FilesReport.Transfer] = []
        if agents != nil, let newPrimary, let node = cluster.nodes.first(where: { $0.name == newPrimary }) {
            afterFailover = try await replicate("after-failover.txt", from: node, to: cluster.nodes.filter { $0.name != newPrimary },
                                                epoch: await engine.epoch.value, cluster: cluster)
        }
        let failbackStart = clock.now
        var failbackReport: DrillReport.Failback?
        var rewind: RejoinReport?
        if failback, let newPrimary {
            (failbackReport, rewind) = await runFailback(cluster: cluster, monitor: monitor, engine: engine, original: primary.name, other: newPrimary,
                                                         target: target, problems: &problems, progress: progress)
        }
        monitorTask.cancel()
        _ = try? await monitorTask.value
        for transfer in beforeFault + afterFailover where transfer.seconds == nil {
            problems.append("\(transfer.file) written in \(transfer.from) never reached \(transfer.to)")
        }

        var allAcks = await writer.acks
        for other in others { allAcks += await other.acks }
        let acks = allAcks.map { ack in
            var named = ack
            named.node = names[ack.node] ?? ack.node
            return named
        }
        // The write rate before the fault, all writers together.
        let acksBeforeFault = acks.filter { $0.at <= faultAt }
        let writesPerSecond: Double? = acksBeforeFault.map { $0.at }.min().flatMap { first in
            let span = first.duration(to: faultAt).seconds
            return span > 0.5 ? Double(acksBeforeFault.count) / span : nil
        }
        var lost: [WorkloadWriter.Ack] = []
        if let newPrimary, let node = cluster.nodes.first(where: { $0.name == newPrimary }) {
            let rows = try await cluster.psql(node, "SELECT seq FROM \(WorkloadWriter.table)")
            let present = Set(rows.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
            lost = acks.filter { !present.contains($0.seq) }
        }
        if scenario.zeroLoss, !lost.isEmpty { problems.append("\(lost.count) acknowledged writes lost in a planned move") }
        if policy.durability.managed, policy.durability.mode != .async, !lost.isEmpty {
            problems.append("\(lost.count) acknowledged writes lost with durability \(policy.durability.mode.rawValue)")
        }
        let journal = engine.journal.entries.filter { $0.at < failbackStart }
        let promotions = journal.filter { if case .stepSucceeded(.promote, _) = $0.kind { return true } else { return false } }.count
        if promotions != 1 { problems.append("expected exactly one promotion, saw \(promotions)") }

        let firstNewAck = acks.filter { $0.node == newPrimary && $0.at > faultAt }.min { $0.at < $1.at }
        let rto = firstNewAck.map { faultAt.duration(to: $0.at).seconds }
        if rto == nil, problems.isEmpty { problems.append("no write was acknowledged by a new primary") }
        let completed = journal.first { entry in
            if case .transition(.switchingTraffic, .monitoring) = entry.kind { return entry.at > faultAt }
            return false
        }
        let switchStarted = journal.first { if case .stepStarted(.switchTraffic, _) = $0.kind { return $0.at > faultAt } else { return false } }
        let switchDone = journal.first { if case .stepSucceeded(.switchTraffic, _) = $0.kind { return $0.at > faultAt } else { return false } }
        let trafficSeconds: Double? = if let switchStarted, let switchDone { switchStarted.at.duration(to: switchDone.at).seconds } else { nil }
        // A write acknowledged while the kill was being delivered can carry a time just after faultAt.
        let rpoSeconds = max(0, lost.map { $0.at.duration(to: faultAt).seconds }.max() ?? 0)

        var timeline = [DrillReport.Step(at: 0, event: scenario.tag, detail: faultText)]
        timeline += journal.filter { $0.at >= faultAt }.compactMap { entry in
            guard let (event, detail) = Self.describe(entry) else { return nil }
            return DrillReport.Step(at: faultAt.duration(to: entry.at).seconds, event: event, detail: detail)
        }
        if let firstNewAck {
            timeline.append(DrillReport.Step(at: faultAt.duration(to: firstNewAck.at).seconds, event: "write", detail: "first acknowledged write on \(firstNewAck.node) (row \(firstNewAck.seq))"))
        }
        timeline.sort { $0.at < $1.at }

        return DrillReport(
            kind: "sandbox drill: \(cluster.nodes.count) regions on this machine (\(cluster.block.prefix).0/24), \(scenario.summary)"
                + (knot.map { _ in ", clients find the primary through \(Self.recordName) (Knot DNS, TTL 0: client caching excluded)" } ?? ""),
            scenario: scenario.name,
            nodes: cluster.nodes.enumerated().map { index, node in
                DrillReport.Node(name: node.name, region: node.region, role: index == 0 ? "primary" : "standby", address: "\(node.address):\(node.port)")
            },
            detection: DrillReport.Detection(
                interval: DurationText.format(detection.interval), timeout: DurationText.format(detection.timeout),
                suspectInterval: DurationText.format(detection.suspectInterval),
                failureThreshold: detection.failureThreshold, recoveryThreshold: detection.recoveryThreshold
            ),
            fault: faultText, timeline: timeline, rtoSeconds: rto,
            failoverSeconds: completed.map { faultAt.duration(to: $0.at).seconds }, trafficSwitchSeconds: trafficSeconds, rpoLostWrites: lost.count, rpoSeconds: rpoSeconds, promotions: promotions, newPrimary: newPrimary,
            epoch: await engine.epoch.value, writesBeforeFault: writesBeforeFault, writesAcknowledged: acks.count,
            passed: problems.isEmpty, problems: problems,
            files: agents.map { _ in
                DrillReport.FilesReport(interval: DurationText.format(SandboxAgents.interval), beforeFault: beforeFault, afterFailover: afterFailover)
            },
            ackedWritesLost: lost.count, failback: failbackReport,
            writers: max(1, writers), writesPerSecond: writesPerSecond,
            durability: policy.durability.managed ? policy.durability.mode.rawValue + (policy.durability.whenShort == .async ? " (when_short: async)" : "") : nil,
            rewind: rewind
        )
    }

    /// The old primary rejoins with pg_rewind (by the monitor on its own after a switchover, as
    /// `failover.rejoin` says, else asked as an operator would), then a switchover back under a
    /// writer, and the other node rejoins in turn.
    private func runFailback(cluster: SandboxCluster, monitor: MonitorAssembly, engine: Engine<ContinuousClock>, original: String, other: String,
                             target: WorkloadWriter.Target, problems: inout [String], progress: @escaping @Sendable (String) -> Void) async
        -> (DrillReport.Failback, RejoinReport?)
    {
        let clock = ContinuousClock()
        var figures = DrillReport.Failback(writesDuringSwitchback: 0, lostInSwitchback: 0, endStreaming: [])
        func standbyAgain(_ node: String) async -> Bool {
            let streaming = await engine.health[node]?.currentStatus?.isStreaming == true
            let retired = await engine.retired.contains(node)
            return streaming && !retired
        }
        let rejoinStart = clock.now
        var report: RejoinReport?
        // After a switchover the monitor rejoins the node itself (it may have done so already).
        let retiredBySwitchover = await engine.retiredBySwitchover.contains(original)
        let rejoinedAlready = await monitor.control.rejoins?.lastReport(of: original) != nil
        let automatic = policy.rejoin != .manual && (retiredBySwitchover || rejoinedAlready)
        if automatic {
            progress("failback: the monitor rejoins \(original) on its own (failover.rejoin: \(policy.rejoin.rawValue))")
        } else {
            progress("failback: rejoining \(original) as a standby of \(other) with pg_rewind")
            switch await monitor.control.rejoin(RejoinRequest(node: original), by: "drill") {
            case .done(let r): report = r
            case .refused(let why): problems.append("rejoin of \(original) refused: \(why)")
            case .failed(let failure): problems.append("rejoin of \(original) failed at \(failure.step): \(failure.error)")
            case .notLeader: problems.append("rejoin of \(original): the monitor does not lead")
            }
        }
        if (try? await waitUntil(clock: clock, timeout: .seconds(90), "\(original) streaming again") { await standbyAgain(original) }) != nil {
            figures.rejoinSeconds = rejoinStart.duration(to: clock.now).seconds
        } else {
            problems.append("\(original) did not stream from \(other) within 90s of its rejoin")
        }
        if report == nil {
            // The node streams a moment before its agent's answer reaches the monitor's coordinator.
            _ = try? await waitUntil(clock: clock, timeout: .seconds(15), "the rejoin report of \(original)") {
                await monitor.control.rejoins?.lastReport(of: original) != nil
            }
            report = await monitor.control.rejoins?.lastReport(of: original)
        }
        figures.rejoinMethod = report?.method.rawValue
        guard problems.isEmpty else { return (figures, report) }

        // The switchover back, under a writer of its own.
        let writer = WorkloadWriter(target: target, firstSeq: 1_000_000, logger: logger)
        let writerTask = Task { await writer.run() }
        _ = try? await waitUntil(clock: clock, timeout: .seconds(20), "writes before the switchover back") { await writer.acks.count >= 50 }
        progress("failback: switchover back to \(original)")
        let asked = clock.now
        switch await engine.submit(.operatorSwitchover(to: original, by: "drill")) {
        case .outcome(.started): break
        case let other: problems.append("switchover back refused: \(other)")
        }
        let originalAddress = cluster.nodes.first { $0.name == original }?.address ?? original
        if (try? await waitUntil(clock: clock, timeout: .seconds(60), "first write on \(original)") {
            guard case .monitoring(original) = await engine.state else { return false }
            return await writer.hasAck(on: [original, originalAddress], after: asked)
        }) != nil {
            figures.switchbackSeconds = asked.duration(to: clock.now).seconds
        } else {
            problems.append("the switchover back to \(original) did not complete within 60s (\(await engine.state.kind.rawValue))")
        }
        let acked = await writer.acks.count
        _ = try? await waitUntil(clock: clock, timeout: .seconds(2), "more writes") { await writer.acks.count >= acked + 10 }
        await writer.stop()
        await writerTask.value
        // The switchover retired the other node; failover.rejoin (switchover by default) brings it back.
        if (try? await waitUntil(clock: clock, timeout: .seconds(90), "\(other) streaming again") { await standbyAgain(other) }) != nil {
            figures.standbyAgainSeconds = asked.duration(to: clock.now).seconds
        } else if policy.rejoin != .manual {
            problems.append("\(other) did not stream from \(original) within 90s of the switchover back")
        }
        if let node = cluster.nodes.first(where: { $0.name == original }),
           let rows = try? await cluster.psql(node, "SELECT seq FROM \(WorkloadWriter.table) WHERE seq >= 1000000") {
            let present = Set(rows.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
            let acks = await writer.acks
            figures.writesDuringSwitchback = acks.count
            figures.lostInSwitchback = acks.filter { !present.contains($0.seq) }.count
        } else {
            problems.append("cannot read \(original)'s rows after the switchover back")
        }
        if figures.lostInSwitchback > 0 { problems.append("\(figures.lostInSwitchback) acknowledged writes lost in the switchover back") }
        if case .monitoring(let p) = await engine.state { figures.endPrimary = p }
        for node in cluster.nodes.map(\.name) where node != figures.endPrimary {
            if await standbyAgain(node) { figures.endStreaming.append(node) }
        }
        if figures.endPrimary != original { problems.append("the cluster ended with \(figures.endPrimary ?? "no primary") as primary, not \(original)") }
        if policy.slots.managed, let node = cluster.nodes.first(where: { $0.name == original }) {
            // Each standby streams through its own slot on the primary (made by the monitor, named in
            // the rejoin's primary_slot_name).
            let wanted = figures.endStreaming.map(ReplicationSlots.name(for:)).sorted()
            var active: [String] = []
            _ = try? await waitUntil(clock: clock, timeout: .seconds(15), "standbys streaming through their slots") {
                let rows = (try? await cluster.psql(node, "SELECT slot_name FROM pg_replication_slots WHERE active AND slot_name LIKE 'lifeboat\\_%' ORDER BY 1")) ?? ""
                active = rows.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                return active == wanted
            }
            figures.endSlots = active
            if active != wanted { problems.append("slots in use on \(original): \(active), expected \(wanted)") }
        }
        return (figures, report)
    }

    /// A short tag and the journal's own sentence, for the entries an operator cares about.
    static func describe(_ entry: JournalEntry<ContinuousClock.Instant>) -> (String, String)? {
        describe(kind: entry.kind, message: entry.message)
    }

    /// The same for a journal line read back through the API (its stored kind, step and node).
    public static func describe(storedKind: String, step: String?, node: String?, message: String) -> (String, String)? {
        guard let kind = JournalKind(stored: storedKind, step: step, node: node) else { return nil }
        return describe(kind: kind, message: message)
    }

    static func describe(kind: JournalKind, message: String) -> (String, String)? {
        switch kind {
        case .transition(let from, let to):
            let tag: String = switch (from, to) {
            case (.monitoring, .confirming): "detected"
            case (_, .bumpingEpoch): "decided"
            case (_, .holding): "held"
            case (.bumpingEpoch, .fencing): "epoch"
            case (.fencing, .promoting), (.fencing, .catchingUp), (.fencing, .awaitingLease): "fenced"
            case (.awaitingLease, .promoting): "lease-over"
            case (.catchingUp, .promoting): "caught-up"
            case (.promoting, .waitingWritable): "promoted"
            case (.waitingWritable, _): "writable"
            case (.repointing, _): "repointed"
            case (.switchingTraffic, .monitoring): "complete"
            case (_, .failed): "failed"
            default: "state"
            }
            return (tag, message)
        case .decision: return ("decision", message)
        case .stepFailed(let step, let node): return ("retry", "\(step.rawValue)\(node.map { " on \($0)" } ?? "") failed: \(message)")
        case .stepProgress: return ("dns", message)
        case .alert, .stepStarted, .stepSucceeded, .operatorCommand: return nil
        }
    }

    private func waitUntil(clock: ContinuousClock, timeout: Duration, _ what: String, _ condition: () async -> Bool) async throws {
        try await DrillTimeout.wait(timeout, what, poll: .milliseconds(5), condition)
    }

    /// Writes `file` into `from`'s uploads and times its arrival, whole, in each of `to`'s.
    private func replicate(_ file: String, from: SandboxNode, to: [SandboxNode], epoch: UInt64, cluster: SandboxCluster) async throws
        -> [DrillReport.FilesReport.Transfer]
    {
        let clock = ContinuousClock()
        let content = "written in \(from.region) under epoch \(epoch) at \(Date())\n"
        try content.write(toFile: "\(SandboxAgents.uploads(cluster, region: from.region))/\(file)", atomically: true, encoding: .utf8)
        let written = clock.now
        var transfers: [DrillReport.FilesReport.Transfer] = []
        for node in to {
            let path = "\(SandboxAgents.uploads(cluster, region: node.region))/\(file)"
            let arrived = (try? await waitUntil(clock: clock, timeout: SandboxAgents.interval * 15, "\(file) in \(node.region)") {
                (try? String(contentsOfFile: path, encoding: .utf8)) == content
            }) != nil
            transfers.append(.init(file: file, from: from.region, to: node.region, epoch: epoch,
                                   seconds: arrived ? written.duration(to: clock.now).seconds : nil))
        }
        return transfers
    }
}

public struct DrillTimeout: Error, CustomStringConvertible {
    public var what: String
    public var after: Duration
    public var description: String { "\(what) not reached within \(DurationText.format(after))" }

    /// Asks `condition` every `poll` until it holds; throws a `DrillTimeout` naming `what` after `timeout`.
    static func wait(_ timeout: Duration, _ what: String, poll: Duration = .milliseconds(20), _ condition: () async -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: poll)
        }
        throw DrillTimeout(what: what, after: timeout)
    }
}

