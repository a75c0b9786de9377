import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatEngine
import LifeboatProbes
import Logging
import Metrics
import ServiceLifecycle

/// Each region's application tier, from the monitor's checks (with hysteresis, `ServiceMonitor`)
/// and, when the monitor sees a region short of `min_healthy`, from other regions' agents asked to
/// check the same endpoints: a loss only one vantage point sees is the monitor's own path failing.
/// The verdicts go to the leading engine (`failover.trigger: region` acts on them); with a
/// `RegionMembers`, the primary region's DNS record keeps only the addresses of nodes that answer.
final class AppTierWatcher: Service, Sendable {
    struct Witness: Sendable {
        var node: String
        var region: String
        var client: AgentClient
    }

    let nodes: [ServiceNodeConfig]
    let topology: Topology
    let minHealthy: Int
    let services: ServiceMonitor
    let witnesses: [Witness]
    let slot: EngineSlot
    let members: RegionMembers?
    let dns: DNSTrafficSwitch?
    /// Target addresses with no application node behind them: always kept.
    let unowned: [String: Set<IPv4>]
    let interval: Duration
    let checkTimeout: Duration
    let agentTimeout: Duration
    let logger: Logger

    init(config: LifeboatConfiguration, services: ServiceMonitor, witnesses: [Witness], slot: EngineSlot, members: RegionMembers?,
         dns: DNSTrafficSwitch?, logger: Logger) {
        nodes = config.services.flatMap(\.nodes)
        topology = config.topology
        minHealthy = config.failover.minHealthy
        self.services = services
        self.witnesses = witnesses
        self.slot = slot
        self.members = members
        self.dns = dns
        var unowned: [String: Set<IPv4>] = [:]
        for (region, targets) in config.dns?.targets ?? [:] {
            let owned = Set(nodes.filter { $0.region == region }.compactMap(\.address))
            unowned[region] = Set(targets).subtracting(owned)
        }
        self.unowned = unowned
        interval = config.detection.interval
        checkTimeout = config.detection.timeout
        agentTimeout = config.agents?.timeout ?? .seconds(2)
        self.logger = logger
    }

    func run() async throws {
        var reported: [String: AppTierVerdict] = [:]
        var applied: [String: Set<IPv4>] = [:]
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let verdicts = services.verdicts
            for region in Set(nodes.map(\.region)).sorted() {
                let regional = nodes.filter { $0.region == region }
                // A region is judged once every node's check has decided.
                guard regional.allSatisfy({ verdicts[$0.name] != nil }) else { continue }
                let up = regional.filter { verdicts[$0.name] == true }
                members?.set(region, healthy: Set(up.compactMap(\.address)).union(unowned[region] ?? []))
                let verdict: AppTierVerdict = up.count >= minHealthy
                    ? .serving(healthy: up.count, total: regional.count)
                    : await corroborate(region, regional, seen: up.count)
                Gauge(label: "lifeboat_region_serving", dimensions: [("region", region)]).record(verdict.serves ? 1 : 0)
                let confirmed: Bool = if case .down = verdict { true } else { false }
                Gauge(label: "lifeboat_region_serving_confirmed_down", dimensions: [("region", region)]).record(confirmed ? 1 : 0)
                if reported[region] != verdict {
                    reported[region] = verdict
                    logger.notice("region \(region)'s application tier: \(verdict.summary)")
                    await slot.engine?.appTier(region: region, verdict: verdict)
                }
            }
            await keepRecordToHealthyNodes(&applied)
            try? await Task.sleep(for: interval)
        }
    }

    /// Asks every agent outside `region` to check its application nodes; those that also see fewer
    /// than `min_healthy` answer confirm the loss.
    func corroborate(_ region: String, _ regional: [ServiceNodeConfig], seen: Int) async -> AppTierVerdict {
        await Self.corroborate(region, regional, seen: seen, witnesses: witnesses, minHealthy: minHealthy,
                               checkTimeout: checkTimeout, agentTimeout: agentTimeout)
    }

    static func corroborate(_ region: String, _ regional: [ServiceNodeConfig], seen: Int, witnesses: [Witness], minHealthy: Int,
                            checkTimeout: Duration, agentTimeout: Duration) async -> AppTierVerdict {
        let outside = witnesses.filter { $0.region != region }
        guard !outside.isEmpty else {
            return .uncorroborated(healthy: seen, total: regional.count, detail: "no agent outside \(region) is configured to check it")
        }
        let targets = regional.map { ProbeOrder.Target(node: $0.name, url: $0.health, body: $0.healthBody) }
        let answers = await withTaskGroup(of: (Witness, Int?).self) { group in
            for witness in outside {
                group.addTask {
                    let answer = try? await witness.client.probe(targets, checkTimeout: checkTimeout, timeout: agentTimeout + checkTimeout)
                    return (witness, answer.map { $0.results.filter(\.ok).count })
                }
            }
            var all: [(Witness, Int?)] = []
            for await answer in group { all.append(answer) }
            return all.sorted { $0.0.node < $1.0.node }
        }
        let confirming = answers.filter { ($0.1 ?? Int.max) < minHealthy }.map { "the agent of \($0.0.node) in \($0.0.region)" }
        if !confirming.isEmpty { return .down(healthy: seen, total: regional.count, corroboratedBy: confirming) }
        let seenElsewhere = answers.compactMap { witness, count in count.map { "\(witness.node) sees \($0)" } }
        return .uncorroborated(healthy: seen, total: regional.count,
                               detail: seenElsewhere.isEmpty ? "no agent outside \(region) answered" : seenElsewhere.joined(separator: ", "))
    }

    /// While the engine watches a primary, its region's record holds only its healthy nodes'
    /// addresses (compare-and-swap against what the record holds; never emptied).
    func keepRecordToHealthyNodes(_ applied: inout [String: Set<IPv4>]) async {
        guard let dns, members != nil, let engine = slot.engine, case .monitoring(let primary) = await engine.state,
              let region = topology.node(named: primary)?.region, let all = dns.targets[region] else { return }
        let desired = Set(members?.filter(region, all) ?? all)
        guard applied[region] != desired else { return }
        do {
            if let (change, verified) = try await dns.applyMembers(region: region) {
                let gone = Set(change.before).subtracting(change.targets).sorted().map(\.description)
                let back = Set(change.targets).subtracting(change.before).sorted().map(\.description)
                let text = "DNS \(change.record) now holds \(change.targets.map(\.description).joined(separator: ", ")) in \(region)"
                    + (gone.isEmpty ? "" : "; removed \(gone.joined(separator: ", ")) (application node down)")
                    + (back.isEmpty ? "" : "; added back \(back.joined(separator: ", ")) (application node answers again)") + "; \(verified)"
                logger.notice("\(text)")
                await engine.journalLines([(.decision, text)])
            }
            applied[region] = desired
        } catch {
            logger.warning("could not keep \(dns.provider.record) to \(region)'s healthy application nodes: \(error); trying again")
        }
    }
}
