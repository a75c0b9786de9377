import AsyncHTTPClient
import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPostgres
import Logging

/// `lifeboat doctor`: gathers what every node's PostgreSQL and agent say, as the monitor's config
/// reaches them, and lets `Doctor` decide what is wrong.
public enum DoctorRun {
    public struct Report: Sendable, Codable {
        public var cluster: String
        public var nodes: [NodeFacts]
        public var agents: [AgentFacts]
        public var dns: DNSFacts?
        public var findings: [DoctorFinding]
        /// True when a finding would break a failover (the command exits 1).
        public var breaksFailover: Bool { findings.contains { $0.severity == .breaksFailover } }

        enum CodingKeys: String, CodingKey {
            case cluster, nodes, agents, dns, findings
        }
    }

    /// The traffic record as its provider has it now.
    public struct DNSFacts: Sendable, Codable {
        public var record: String
        public var targets: [String]
        /// The region whose targets the record holds (nil: none of them).
        public var region: String?
        public var error: String?
    }

    public struct AgentFacts: Sendable, Codable {
        public var node: String
        public var url: String
        public var reachable: Bool
        public var role: String?
        public var error: String?
    }

    public static func run(config: LifeboatConfiguration, environment: [String: String], logger: Logger,
                           timeout: Duration = .seconds(5)) async -> Report {
        var facts: [NodeFacts] = []
        var findings: [DoctorFinding] = []
        await withTaskGroup(of: NodeFacts.self) { group in
            for node in config.databaseNodes {
                group.addTask {
                    let password: Secret?
                    do { password = try node.password?.resolve(environment: environment) } catch {
                        var unreadable = NodeFacts(node: node.name)
                        unreadable.error = "its password: \(error)"
                        return unreadable
                    }
                    let postgres = PostgresNode(config: node, password: password, logger: logger)
                    let gathered = await postgres.doctorFacts(timeout: timeout)
                    await postgres.close()
                    return gathered
                }
            }
            for await gathered in group { facts.append(gathered) }
        }
        let order = Dictionary(uniqueKeysWithValues: config.databaseNodes.enumerated().map { ($0.element.name, $0.offset) })
        facts.sort { order[$0.node, default: 0] < order[$1.node, default: 0] }
        findings = Doctor.findings(facts, context: .init(nodeCount: config.databaseNodes.count, leaseInUse: config.failover.leaseTTL != nil,
                                                         hosts: Dictionary(uniqueKeysWithValues: config.databaseNodes.map { ($0.name, $0.host) }),
                                                         slotsManaged: config.failover.slots.managed))
        let primaries = facts.filter { $0.reachable && $0.inRecovery == false }.map(\.node)
        if primaries.count > 1 {
            for node in primaries {
                findings.append(DoctorFinding(node: node, severity: .breaksFailover, subject: "role",
                                              problem: "\(primaries.count) nodes are out of recovery (\(primaries.joined(separator: ", "))): two primaries",
                                              fix: "keep the one clients write to; rebuild the other as a standby of it (pg_rewind or pg_basebackup)"))
            }
        } else if primaries.isEmpty, facts.contains(where: \.reachable) {
            findings.append(DoctorFinding(node: "cluster", severity: .breaksFailover, subject: "role",
                                          problem: "no reachable node is out of recovery: there is no primary",
                                          fix: "promote the most advanced standby: lifeboat failover --to NODE"))
        }

        // sslmode: a server that offers TLS to a monitor that does not use it.
        for node in config.databaseNodes where node.tls == .disable {
            if facts.first(where: { $0.node == node.name })?.settings["ssl"]?.isOn == true {
                findings.append(DoctorFinding(node: node.name, severity: .warning, subject: "sslmode",
                                              problem: "the monitor connects without TLS (sslmode: disable) although the server offers it: its password and queries cross the network in clear",
                                              fix: "set sslmode: require for this node in lifeboat.yml (database.sslmode, or the node's own sslmode)"))
            }
        }

        // The traffic record must send clients to the primary's region.
        var dnsFacts: DNSFacts?
        if let dns = config.dns {
            do {
                let traffic = try TrafficSwitchFactory.make(dns, environment: environment)
                let current = try await traffic.provider.currentTargets()
                let region = dns.targets.first { $0.value == current.targets }?.key
                dnsFacts = DNSFacts(record: traffic.provider.record, targets: current.targets.map(\.description), region: region)
                let primaryRegion = primaries.count == 1 ? config.databaseNodes.first { $0.name == primaries[0] }?.region : nil
                if region == nil {
                    findings.append(DoctorFinding(node: "dns", severity: .breaksFailover, subject: "record",
                                                  problem: "\(traffic.provider.record) holds \(current.targets.map(\.description).joined(separator: ", ")), no configured region's targets: a failover's compare-and-swap would refuse to move it",
                                                  fix: "lifeboat dns point --to \(primaryRegion ?? "REGION") --force  (after checking who else writes the record)"))
                } else if let primaryRegion, region != primaryRegion {
                    findings.append(DoctorFinding(node: "dns", severity: .breaksFailover, subject: "record",
                                                  problem: "\(traffic.provider.record) sends clients to \(region!), but the primary \(primaries[0]) is in \(primaryRegion)",
                                                  fix: "lifeboat dns point --to \(primaryRegion)"))
                }
            } catch {
                dnsFacts = DNSFacts(record: dns.record, targets: [], region: nil, error: "\(error)")
                findings.append(DoctorFinding(node: "dns", severity: .warning, subject: "record",
                                              problem: "cannot read the traffic record: \(error)",
                                              fix: "check the dns: section and its secret (lifeboat dns show says the same); a failover could not switch traffic either"))
            }
        }

        // The NodeBalancer must send clients to the primary's region's node only.
        if let nb = config.nodeBalancer {
            let primaryRegion = primaries.count == 1 ? config.databaseNodes.first { $0.name == primaries[0] }?.region : nil
            let nodeOf = { (region: String) in nb.nodes[region].map(String.init) ?? "NODE" }
            let fix = { (region: String) in "linode-cli nodebalancers node-update \(nb.id) \(nb.configID) \(nodeOf(region)) --mode accept  (then the other regions' nodes --mode \(nb.standbyMode.rawValue))" }
            do {
                let traffic = try TrafficSwitchFactory.make(nb, environment: environment)
                let modes = try await traffic.modes()
                let accepting = modes.filter { $0.value == "accept" }.keys.sorted()
                if accepting.isEmpty {
                    findings.append(DoctorFinding(node: "nodebalancer", severity: .breaksFailover, subject: "nodebalancer",
                                                  problem: "no node of NodeBalancer \(nb.id) accepts (\(modes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))): clients reach nothing, and a failover's compare-and-swap would refuse to switch it",
                                                  fix: fix(primaryRegion ?? "REGION")))
                } else if let primaryRegion, !accepting.contains(primaryRegion) {
                    findings.append(DoctorFinding(node: "nodebalancer", severity: .breaksFailover, subject: "nodebalancer",
                                                  problem: "NodeBalancer \(nb.id) sends clients to \(accepting.joined(separator: ", ")), but the primary \(primaries[0]) is in \(primaryRegion)",
                                                  fix: fix(primaryRegion)))
                } else if accepting.count > 1 {
                    findings.append(DoctorFinding(node: "nodebalancer", severity: .warning, subject: "nodebalancer",
                                                  problem: "NodeBalancer \(nb.id) sends clients to \(accepting.joined(separator: " and ")): the standby region's application gets traffic too",
                                                  fix: "linode-cli nodebalancers node-update \(nb.id) \(nb.configID) NODE --mode \(nb.standbyMode.rawValue)  (for each node outside \(primaryRegion ?? "the primary's region"))"))
                }
            } catch {
                findings.append(DoctorFinding(node: "nodebalancer", severity: .warning, subject: "nodebalancer",
                                              problem: "cannot read NodeBalancer \(nb.id)'s nodes: \(error)",
                                              fix: "check the nodebalancer: section (id, config_id, nodes) and its token's nodebalancers:read_write scope; a failover could not switch it either"))
            }
        }

        var agents: [AgentFacts] = []
        if let key = try? config.agents?.key.resolve(environment: environment).reveal() {
            let tls = config.tls.flatMap { try? TLSFiles(certFile: $0.certFile, keyFile: $0.keyFile, caFile: $0.caFile, requireClientCertificates: false).client() }
            let http = HTTPClient.lifeboat(tls: tls)
            for node in config.databaseNodes {
                guard let url = node.agent else { continue }
                let client = AgentClient(baseURL: url, node: node.name, key: key, http: http, tls: tls)
                do {
                    let status = try await client.status(timeout: timeout)
                    agents.append(AgentFacts(node: node.name, url: url, reachable: true, role: status.role.rawValue))
                } catch {
                    agents.append(AgentFacts(node: node.name, url: url, reachable: false, error: "\(error)"))
                    findings.append(DoctorFinding(node: node.name, severity: config.failover.leaseTTL != nil ? .breaksFailover : .warning,
                                                  subject: "agent", problem: "its agent at \(url) does not answer: \(error)",
                                                  fix: "start lifeboat-agent on the node (systemctl enable --now lifeboat-agent) and open its port to the monitor; check agents.key_file against its key_file"))
                }
            }
        } else if config.agents != nil {
            findings.append(DoctorFinding(node: "cluster", severity: .warning, subject: "agent",
                                          problem: "the agents' key cannot be read here, so the agents were not asked",
                                          fix: "run lifeboat doctor as the monitor's user (it reads agents.key_file)"))
        }
        return Report(cluster: config.cluster, nodes: facts, agents: agents, dns: dnsFacts, findings: findings)
    }
}
