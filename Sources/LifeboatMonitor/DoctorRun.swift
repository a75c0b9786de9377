import AsyncHTTPClient
import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatPostgres
import Logging

/// `lifeboat doctor`: gathers what every node's PostgreSQL and agent say, as the monitor's config
/// reaches them, and lets `Doctor` decide what is wrong.
public enum DoctorRun {
    public struct Report: Sendable, Codable {
        public var cluster: String
        public var nodes: [NodeFacts]
        public var agents: [AgentFacts]
        public var findings: [DoctorFinding]
        /// True when a finding would break a failover (the command exits 1).
        public var breaksFailover: Bool { findings.contains { $0.severity == .breaksFailover } }

        enum CodingKeys: String, CodingKey {
            case cluster, nodes, agents, findings
        }
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
        findings = Doctor.findings(facts, context: .init(nodeCount: config.databaseNodes.count, leaseInUse: config.failover.leaseTTL != nil))
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
        return Report(cluster: config.cluster, nodes: facts, agents: agents, findings: findings)
    }
}
