import ArgumentParser
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatMonitor
import Logging

extension Lifeboat {
    struct DoctorCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "doctor",
            abstract: "Check every node's PostgreSQL and agent for what would break a failover, and print the exact fix.",
            discussion: """
                Connects to each database node as the monitor does (lifeboat.yml) and reads its settings: \
                wal_level, max_wal_senders, max_replication_slots, hot_standby, wal_log_hints or data \
                checksums (pg_rewind), wal_receiver_timeout and wal_sender_timeout (without a lease), \
                the monitor's rights, unused replication slots, a read-only primary, the clock offset, \
                sslmode against the server's TLS, pg_hba.conf lines admitting replication from every other \
                node; asks each agent for its status; checks that exactly one \
                node is the primary and that the traffic record points at its region. Findings are \
                grouped by node. Exit status: 0 when nothing would break a failover (warnings may remain), \
                1 when something would, 2 when the config cannot be read.
                """
        )

        @Option(name: [.short, .long], help: "The monitor's config file.")
        var config: String = "/etc/lifeboat/lifeboat.yml"

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Option(help: "How long to wait for each node and agent, e.g. 5s.")
        var timeout: String = "5s"

        func validate() throws {
            guard let wait = DurationText.parse(timeout), wait > .zero, wait <= .seconds(120) else {
                throw ValidationError("--timeout: expected a duration from 1ms to 120s such as 5s, found '\(timeout)'")
            }
        }

        func run() async throws {
            let loaded: LifeboatConfiguration
            do {
                loaded = try loadingConfig { try ConfigLoader.load(path: config) }
            } catch is ExitCode {
                throw ExitCode(2)  // 1 means "a failover would break"
            }
            let wait = DurationText.parse(timeout) ?? .seconds(5)
            var logger = Logger(label: "lifeboat.doctor")
            logger.logLevel = .critical
            let report = await DoctorRun.run(config: loaded, environment: ProcessInfo.processInfo.environment, logger: logger, timeout: wait)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(Self.text(report))
            }
            if report.breaksFailover { throw ExitCode(1) }
        }

        static func text(_ report: DoctorRun.Report) -> String {
            var out: [String] = []
            let groups = Dictionary(grouping: report.findings, by: \.node)
            let names = report.nodes.map(\.node) + groups.keys.filter { key in !report.nodes.contains { $0.node == key } }.sorted()
            for name in names {
                let facts = report.nodes.first { $0.node == name }
                var header = name
                if let facts {
                    let role = facts.reachable ? (facts.inRecovery == true ? "standby" : "primary") : "unreachable"
                    header += " (\(role)\(facts.serverVersion.map { ", PostgreSQL \($0 / 10000)" } ?? ""))"
                }
                if let agent = report.agents.first(where: { $0.node == name }) {
                    header += agent.reachable ? ", agent sees \(agent.role ?? "?")" : ", agent unreachable"
                }
                let found = groups[name] ?? []
                out.append(found.isEmpty ? "\(header): nothing to fix" : "\(header):")
                for finding in found {
                    out.append("  \(finding.severity == .breaksFailover ? "BREAKS FAILOVER" : "warning"): \(finding.subject): \(finding.problem)")
                    out.append("    fix: \(finding.fix)")
                }
            }
            let breaking = report.findings.filter { $0.severity == .breaksFailover }.count
            let warnings = report.findings.count - breaking
            out.append(breaking == 0 && warnings == 0 ? "Cluster \(report.cluster): nothing to fix."
                       : "Cluster \(report.cluster): \(breaking) problem\(breaking == 1 ? "" : "s") that would break a failover, \(warnings) warning\(warnings == 1 ? "" : "s").")
            return out.joined(separator: "\n")
        }
    }
}
