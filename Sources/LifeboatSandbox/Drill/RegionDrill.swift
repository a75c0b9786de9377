import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatEngine
import LifeboatMonitor
import Logging
import Synchronization

/// Region drills (`failover.trigger: region`): two regions on this machine, each with PostgreSQL,
/// an agent and application nodes (`lifeboat drill-app` processes answering /healthz) whose
/// addresses the DNS record (Knot) holds. `app-tier-down` kills every application node of the
/// primary's region while its database stays healthy: database and traffic must move together
/// with nothing lost. `app-node-down` kills one of them: only its address may leave the record
/// (never emptied), no failover, and it comes back once the node answers again.
public struct RegionDrill: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case appTierDown = "app-tier-down"
        case appNodeDown = "app-node-down"
    }

    public var kind: Kind
    /// The `lifeboat` executable the application nodes run as.
    public var binary: String
    public var detection: DetectionSettings
    public var install: Bool
    public var appsPerRegion = 2
    public var timeout: Duration = .seconds(60)
    public var logger: Logger

    public init(kind: Kind, binary: String, detection: DetectionSettings = .default, install: Bool = true, logger: Logger) {
        self.kind = kind
        self.binary = binary
        self.detection = detection
        self.install = install
        self.logger = logger
    }

    struct App: Sendable {
        var name: String
        var region: String
        var address: String
        var port: Int
        var url: String { "http://\(address):\(port)/healthz" }
    }

    /// The application processes, killed and restarted by name.
    final class Apps: Sendable {
        let binary: String
        let running = Mutex<[String: Process]>([:])
        init(binary: String) { self.binary = binary }

        func start(_ app: App) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["drill-app", "--listen", "\(app.address):\(app.port)", "--max-seconds", "900"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            running.withLock { $0[app.name] = process }
        }

        /// SIGKILL, as when the machine dies; returns its pid.
        func kill(_ name: String) -> Int32? {
            guard let process = running.withLock({ $0.removeValue(forKey: name) }) else { return nil }
            let pid = process.processIdentifier
            Foundation.kill(pid, SIGKILL)
            process.waitUntilExit()
            return pid
        }

        func stopAll() { for name in running.withLock({ Array($0.keys) }) { _ = kill(name) } }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> DrillReport {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw DrillFailure("\(binary) is not an executable: the region drill runs application nodes as lifeboat processes")
        }
        let installation = try await PostgresInstallation.ensure(install: install, log: progress)
        try await KnotServer.ensureInstalled(install: install, log: progress)
        try await DebianPackage.ensure(["/usr/bin/rsync"], packages: ["rsync"], install: install, log: progress)
        let cluster = try SandboxCluster(regions: ["us-east", "eu-west"], installation: installation)
        let apps = Apps(binary: binary)
        var knot: KnotServer?
        var agents: SandboxAgents?
        do {
            try await cluster.start()
            // Application nodes on addresses of their own in the sandbox's block: 101, 102 in the
            // first region, 111, 112 in the second.
            let addresses = cluster.nodes.indices.flatMap { r in (1...appsPerRegion).map { cluster.block.address(100 + 10 * r + $0) } }
            let port = try FreePort.find(bindableOn: addresses)
            let all = cluster.nodes.enumerated().flatMap { r, node in
                (1...appsPerRegion).map { k in App(name: "app-\(node.region)-\(k)", region: node.region, address: cluster.block.address(100 + 10 * r + k), port: port) }
            }
            for app in all { try apps.start(app) }
            let primaryApps = all.filter { $0.region == cluster.primary.region }
            let server = try KnotServer(zone: SandboxDrill.zone, records: primaryApps.map { "app 0 IN A \($0.address)" }, host: cluster.block.dnsAddress)
            knot = server
            try await server.waitUntilServing()
            progress("\(all.count) application nodes (lifeboat drill-app) on \(all.map(\.address).joined(separator: ", ")):\(port); Knot serves \(SandboxDrill.recordName) -> \(primaryApps.map(\.address).joined(separator: ", "))")
            let apiPort = try FreePort.find(bindableOn: [cluster.block.apiAddress])
            let sandboxAgents = try SandboxAgents(cluster: cluster, monitor: "http://\(cluster.block.apiAddress):\(apiPort)", logger: logger)
            agents = sandboxAgents
            let report = try await drill(cluster, knot: server, agents: sandboxAgents, apps: apps, all: all, apiPort: apiPort, progress: progress)
            await sandboxAgents.stop()
            apps.stopAll()
            server.stop()
            await Task.detached { await cluster.destroy() }.value
            return report
        } catch {
            await agents?.stop()
            apps.stopAll()
            knot?.stop()
            await Task.detached { await cluster.destroy() }.value
            throw error
        }
    }

    private func drill(_ cluster: SandboxCluster, knot: KnotServer, agents: SandboxAgents, apps: Apps, all: [App], apiPort: Int,
                       progress: @escaping @Sendable (String) -> Void) async throws -> DrillReport {
        let clock = ContinuousClock()
        try await cluster.psql(cluster.primary, WorkloadWriter.createTableSQL)
        try await cluster.waitForStreaming(timeout: .seconds(10))
        try await agents.start(logger: logger)

        var nodes = cluster.nodes.map(\.config)
        for index in nodes.indices { nodes[index].agent = agents.urls[nodes[index].name] }
        var policy = FailoverPolicy.default
        policy.trigger = .region
        policy.leaseTTL = .seconds(5)
        let dns = DNSConfig(provider: .rfc2136(.init(server: HostPort(host: knot.host, port: knot.port), keyName: knot.keyName,
                                                     keySecret: .inline(Secret(knot.keySecret)))),
                            zone: SandboxDrill.zone, record: SandboxDrill.recordName, ttl: 0,
                            targets: Dictionary(grouping: all, by: \.region).mapValues { $0.compactMap { IPv4($0.address) }.sorted() },
                            verifyServers: [HostPort(host: knot.host, port: knot.port)])
        let services = [ServiceConfig(name: "web", nodes: all.map {
            ServiceNodeConfig(name: $0.name, region: $0.region, health: $0.url, address: IPv4($0.address))
        })]
        let token = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let config = LifeboatConfiguration(
            cluster: "sandbox", topology: cluster.topology, databaseNodes: nodes, services: services, detection: detection, failover: policy, dns: dns,
            api: APIConfig(listen: HostPort(host: cluster.block.apiAddress, port: apiPort), token: .inline(Secret(token))),
            agents: AgentsConfig(key: .inline(Secret(agents.key)), timeout: .seconds(2), interval: SandboxAgents.interval))
        let monitor = try MonitorAssembly(config: config, statePath: "\(cluster.directory)/monitor/state.db", logger: logger)
        guard let engine = monitor.engine else { throw DrillFailure("the drill runs a single monitor") }
        progress("starting the monitor with failover.trigger: region (API on \(monitor.api))")
        let writer = WorkloadWriter(target: .anyWritable(config.databaseNodes), logger: logger)
        let monitorTask = Task { try await monitor.run() }
        let writerTask = Task { await writer.run() }
        // Every answer Knot gives, 20 times a second: when the record changed, and that it was never empty.
        let answers = Answers()
        let source = AuthoritativeServer(server: DNSServer(host: knot.host, port: knot.port), zone: try DNSName(SandboxDrill.zone),
                                         record: try DNSName(SandboxDrill.recordName), timeout: .milliseconds(500))
        let pollTask = Task {
            for _ in 0..<6000 where !Task.isCancelled {
                if let answer = try? await source.answer() { answers.withLock { $0.append((clock.now, answer.sorted())) } }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        defer {
            monitorTask.cancel()
            writerTask.cancel()
            pollTask.cancel()
        }
        let primary = cluster.primary
        let regionOf = Dictionary(grouping: all, by: \.region).mapValues { $0.compactMap { IPv4($0.address) }.sorted() }
        func recordHolds(_ wanted: [IPv4]) -> Bool { answers.withLock { $0.last?.addresses } == wanted }
        try await waitUntil(clock: clock, timeout: .seconds(60), "steady state (primary watched, standby streaming, both application tiers serving, 50 writes)") {
            guard case .monitoring(primary.name) = await engine.state else { return false }
            let tiers = await engine.appTier
            let serving = cluster.nodes.allSatisfy { tiers[$0.region]?.serves == true }
            let streaming = await engine.health[cluster.standbys[0].name]?.currentStatus?.isStreaming == true
            let written = await writer.acks.count
            return serving && streaming && recordHolds(regionOf[primary.region] ?? []) && written >= 50
        }
        let epochBefore = await engine.epoch.value
        let faultAt = clock.now
        var timeline: [DrillReport.Step] = []
        var problems: [String] = []
        var rto: Double?
        var newPrimary: String?
        var removedAfter: Double?
        var returnedAfter: Double?
        let primaryApps = all.filter { $0.region == primary.region }
        switch kind {
        case .appNodeDown:
            let victim = primaryApps[0]
            let pid = apps.kill(victim.name) ?? 0
            let fault = "SIGKILL to application node \(victim.name) (\(victim.address), pid \(pid)) in the primary's region"
            timeline.append(.init(at: 0, event: "fault", detail: fault))
            progress(fault)
            let rest = (regionOf[primary.region] ?? []).filter { $0.description != victim.address }
            do {
                try await waitUntil(clock: clock, timeout: timeout, "\(victim.address) to leave the record") { recordHolds(rest) }
                let removed = faultAt.duration(to: clock.now).seconds
                timeline.append(.init(at: removed, event: "dns", detail: "\(SandboxDrill.recordName) answers \(rest.map(\.description).joined(separator: ", ")): \(victim.address) removed"))
                removedAfter = removed
                try apps.start(victim)
                let restartedAt = faultAt.duration(to: clock.now).seconds
                timeline.append(.init(at: restartedAt, event: "restart", detail: "\(victim.name) started again"))
                try await waitUntil(clock: clock, timeout: timeout, "\(victim.address) to come back") { recordHolds(regionOf[primary.region] ?? []) }
                returnedAfter = faultAt.duration(to: clock.now).seconds - restartedAt
                timeline.append(.init(at: faultAt.duration(to: clock.now).seconds, event: "dns",
                                      detail: "\(SandboxDrill.recordName) answers \((regionOf[primary.region] ?? []).map(\.description).joined(separator: ", ")) again"))
            } catch { problems.append("\(error)") }
            if await engine.epoch.value != epochBefore { problems.append("the epoch changed: a failover happened for one application node") }
            if case .monitoring(primary.name) = await engine.state {} else { problems.append("the monitor no longer watches \(primary.name) as primary") }
        case .appTierDown:
            let pids = primaryApps.compactMap { apps.kill($0.name) }
            let fault = "SIGKILL to every application node of \(primary.region) (\(primaryApps.map(\.name).joined(separator: ", ")), pids \(pids.map(String.init).joined(separator: ", "))); its database stays up"
            timeline.append(.init(at: 0, event: "fault", detail: fault))
            progress(fault)
            let other = cluster.standbys[0]
            do {
                try await waitUntil(clock: clock, timeout: timeout, "database and traffic in \(other.region)") {
                    guard case .monitoring(other.name) = await engine.state else { return false }
                    let wrote = await writer.hasAck(on: [other.name], after: faultAt)
                    return recordHolds(regionOf[other.region] ?? []) && wrote
                }
                newPrimary = other.name
            } catch { problems.append("\(error)") }
            let acks = await writer.acks
            if let first = acks.filter({ $0.node == other.name && $0.at > faultAt }).min(by: { $0.at < $1.at }) {
                rto = faultAt.duration(to: first.at).seconds
                timeline.append(.init(at: rto!, event: "write", detail: "first acknowledged write on \(first.node) (row \(first.seq))"))
            }
            if let moved = answers.withLock({ $0.first { $0.at > faultAt && $0.addresses == (regionOf[other.region] ?? []) } }) {
                timeline.append(.init(at: faultAt.duration(to: moved.at).seconds, event: "dns",
                                      detail: "\(SandboxDrill.recordName) answers \(moved.addresses.map(\.description).joined(separator: ", ")) (Knot)"))
            }
        }
        let acked = await writer.acks.count
        try? await waitUntil(clock: clock, timeout: .seconds(2), "more writes") { await writer.acks.count >= acked + 10 }
        await writer.stop()
        await writerTask.value
        pollTask.cancel()
        let seen = answers.withLock { $0 }
        if seen.contains(where: { $0.addresses.isEmpty }) { problems.append("the record was empty at some point") }
        let journal = engine.journal.entries.filter { $0.at >= faultAt }
        timeline += journal.compactMap { entry in
            SandboxDrill.describe(entry).map { DrillReport.Step(at: faultAt.duration(to: entry.at).seconds, event: $0.0, detail: $0.1) }
        }
        timeline.sort { $0.at < $1.at }
        let promotions = journal.filter { if case .stepSucceeded(.promote, _) = $0.kind { return true } else { return false } }.count
        if kind == .appTierDown, promotions != 1 { problems.append("expected exactly one promotion, saw \(promotions)") }
        if kind == .appNodeDown, promotions != 0 { problems.append("expected no promotion, saw \(promotions)") }
        // Nothing acknowledged may be lost: the old primary was healthy, so the move was a switchover.
        let acks = await writer.acks
        let holder = cluster.nodes.first { $0.name == (newPrimary ?? primary.name) } ?? primary
        let rows = try await cluster.psql(holder, "SELECT seq FROM \(WorkloadWriter.table)")
        let present = Set(rows.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        let lost = acks.filter { !present.contains($0.seq) }
        if !lost.isEmpty { problems.append("\(lost.count) acknowledged writes lost") }
        monitorTask.cancel()
        _ = try? await monitorTask.value
        let databaseNodes: [DrillReport.Node] = cluster.nodes.enumerated().map { index, node in
            DrillReport.Node(name: node.name, region: node.region, role: index == 0 ? "primary" : "standby", address: "\(node.address):\(node.port)")
        }
        let appNodes: [DrillReport.Node] = all.map { DrillReport.Node(name: $0.name, region: $0.region, role: "application", address: "\($0.address):\($0.port)") }
        let completed = journal.first { if case .transition(.switchingTraffic, .monitoring) = $0.kind { return true } else { return false } }
        let failoverSeconds: Double? = completed.map { faultAt.duration(to: $0.at).seconds }
        let epochAfter = await engine.epoch.value
        let before = acks.filter { $0.at <= faultAt }.count
        let summary = kind == .appTierDown
            ? "every application node of the primary's region killed (database healthy), failover.trigger: region"
            : "one application node of the primary's region killed, then restarted, failover.trigger: region"
        return DrillReport(
            kind: "region drill: 2 regions on this machine (\(cluster.block.prefix).0/24), \(appsPerRegion) application nodes each, \(summary); "
                + "\(SandboxDrill.recordName) holds the primary region's healthy application nodes (Knot, TTL 0)",
            scenario: kind.rawValue,
            nodes: databaseNodes + appNodes,
            detection: DrillReport.Detection(interval: DurationText.format(detection.interval), timeout: DurationText.format(detection.timeout),
                                             suspectInterval: DurationText.format(detection.suspectInterval),
                                             failureThreshold: detection.failureThreshold, recoveryThreshold: detection.recoveryThreshold),
            fault: timeline.first?.detail ?? "", timeline: timeline, rtoSeconds: rto,
            failoverSeconds: failoverSeconds,
            trafficSwitchSeconds: nil, rpoLostWrites: lost.count, rpoSeconds: 0, promotions: promotions, newPrimary: newPrimary,
            epoch: epochAfter, writesBeforeFault: before, writesAcknowledged: acks.count,
            passed: problems.isEmpty, problems: problems, ackedWritesLost: lost.count,
            region: kind == .appNodeDown ? .init(addressRemovedSeconds: removedAfter, addressReturnedSeconds: returnedAfter, recordEverEmpty: seen.contains { $0.addresses.isEmpty },
                                                 dnsAnswersSeen: seen.count) : .init(addressRemovedSeconds: nil, addressReturnedSeconds: nil,
                                                 recordEverEmpty: seen.contains { $0.addresses.isEmpty }, dnsAnswersSeen: seen.count)
        )
    }

    /// Knot's answers as the poll saw them.
    final class Answers: Sendable {
        let seen = Mutex<[(at: ContinuousClock.Instant, addresses: [IPv4])]>([])
        func withLock<T>(_ body: (inout [(at: ContinuousClock.Instant, addresses: [IPv4])]) -> T) -> T { seen.withLock { body(&$0) } }
    }

    private func waitUntil(clock: ContinuousClock, timeout: Duration, _ what: String, _ condition: () async -> Bool) async throws {
        try await DrillTimeout.wait(timeout, what, condition)
    }
}
