import Foundation
import LifeboatTestSupport
import Testing

/// The files under deploy/ are accepted by the tools that will load them.
@Suite struct DeploymentFilesTests {
    static func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String) { try runTool(tool, arguments) }

    @Test func prometheusAcceptsTheAlertRules() async throws {
        let (status, text) = try Self.run("/usr/bin/promtool", ["check", "rules", CLI.packageRoot.appendingPathComponent("deploy/prometheus/alerts.yml").path])
        #expect(status == 0, "\(text)")
        #expect(text.contains("SUCCESS: 20 rules found"))
    }

    /// The alerts that compare two series fire as meant (promtool's rule unit tests, on series).
    @Test func theAlertRulesPassTheirUnitTests() async throws {
        let (status, text) = try Self.run("/usr/bin/promtool", ["test", "rules", CLI.packageRoot.appendingPathComponent("deploy/prometheus/alerts.test.yml").path])
        #expect(status == 0, "\(text)")
        #expect(text.contains("SUCCESS"), "\(text)")
    }

    @Test func theDashboardOnlyQueriesMetricsLifeboatExports() async throws {
        let url = CLI.packageRoot.appendingPathComponent("deploy/grafana/lifeboat-dashboard.json")
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 8)
        let exported = ["lifeboat_node_up", "lifeboat_node_primary", "lifeboat_replication_lag_bytes", "lifeboat_replication_lag_seconds",
                        "lifeboat_probe_duration_seconds_bucket", "lifeboat_state", "lifeboat_epoch", "lifeboat_paused",
                        "lifeboat_failovers_total", "lifeboat_last_dns_switch_timestamp_seconds"]
        for panel in panels {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let expr = try #require(target["expr"] as? String)
                let names = expr.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).filter { $0.hasPrefix("lifeboat_") }
                #expect(!names.isEmpty, "\(expr)")
                for name in names { #expect(exported.contains(String(name)), "\(name) in \(panel["title"] ?? "")") }
            }
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze (Debian's systemd package)"),
          arguments: [
              ("lifeboat-monitor.service", "ExecStart=/usr/local/bin/lifeboat monitor --config /etc/lifeboat/lifeboat.yml --state /var/lib/lifeboat/state.db"),
              ("lifeboat-agent.service", "ExecStart=/usr/local/bin/lifeboat agent --config /etc/lifeboat/agent.yml"),
          ])
    func systemdAcceptsTheUnit(name: String, execStart: String) throws {
        let source = try String(contentsOf: CLI.packageRoot.appendingPathComponent("deploy/systemd/\(name)"), encoding: .utf8)
        #expect(source.contains(execStart))
        // Verify a copy whose ExecStart names the binary just built (verify checks it exists).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-unit-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let unit = dir.appendingPathComponent(name)
        try source.replacingOccurrences(of: "/usr/local/bin/lifeboat", with: CLI.binary.path).write(to: unit, atomically: true, encoding: .utf8)
        let (status, text) = try Self.run("/usr/bin/systemd-analyze", ["verify", unit.path])
        #expect(status == 0, "\(text)")
        #expect(!text.contains("\(name):"), "\(text)")
    }
}
