import Foundation
import LifeboatConfig
import LifeboatCore
import Testing

private func parse(_ yaml: String, env: [String: String] = ["PGPASS": "x"]) -> (LifeboatConfiguration?, [Diagnostic]) {
    ConfigParser.parse(yaml: yaml, file: "test.yml", environment: env)
}

private func errors(_ yaml: String) -> [Diagnostic] {
    parse(yaml).1.filter { $0.severity == .error }
}

private let valid = """
version: 1
cluster: shop
regions:
  - name: us-east
    priority: 1
  - name: eu-west
    priority: 2
database:
  password_env: PGPASS
  nodes:
    - name: pg-a
      region: us-east
      host: 127.0.0.1
      port: 5432
    - name: pg-b
      region: eu-west
      host: 127.0.0.1
      port: 5433
"""

@Suite struct ConfigParserTests {
    @Test func agentURLsNeedAnAgentsSection() {
        let (config, diagnostics) = ConfigParser.parse(yaml: """
            regions: [{name: a}, {name: b}]
            database:
              nodes:
                - {name: pg-a, region: a, host: 10.0.0.1, agent: "ftp://10.0.0.1"}
                - {name: pg-b, region: b, host: 10.0.0.2, agent: "http://10.0.0.2:8548"}
            files: {paths: []}
            """, file: "l.yml", environment: [:])
        #expect(config == nil)
        let text = diagnostics.map(\.description).joined(separator: "\n")
        #expect(text.contains("l.yml:4:54: error: database.nodes[0].agent: expected the agent's base URL such as http://10.0.1.5:8548, found 'ftp://10.0.0.1'"), "\(text)")
        #expect(text.contains("error: agents: nodes name agents, but there is no agents: section"), "\(text)")
        #expect(text.contains("warning: files: ignored here: file replication is configured in each node's agent config"), "\(text)")
    }

    @Test func theShippedExampleIsValid() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/lifeboat.yml").path
        let (config, diagnostics) = try ConfigLoader.check(path: example, environment: ["LIFEBOAT_PG_PASSWORD": "s3cret"])
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let c = try #require(config)
        #expect(c.topology.regions.map(\.name) == ["us-east", "eu-west"])
        #expect(c.databaseNodes.map(\.name) == ["pg-us-east-1", "pg-eu-west-1"])
        #expect(c.databaseNodes[0].password == .environment("LIFEBOAT_PG_PASSWORD"))
        #expect(c.databaseNodes[0].tls == .require)
        #expect(c.services.first?.nodes.count == 2)
        #expect(c.detection == .default)
        #expect(c.failover.maxLagBytes == 16 * 1024 * 1024)
        #expect(c.failover.maxLagSeconds == .seconds(30))
        #expect(c.failover.cooldown == .seconds(600))
        #expect(c.databaseNodes.map(\.agent) == ["http://192.0.2.10:8548", "http://198.51.100.20:8548"])
        #expect(c.agents == AgentsConfig(key: .environment("LIFEBOAT_AGENT_KEY"), timeout: .seconds(2), interval: .seconds(15)))
        #expect(c.dns?.ttl == 300)
    }

    @Test func minimalConfigTakesDefaults() throws {
        let (config, diagnostics) = parse(valid)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let c = try #require(config)
        #expect(c.detection == .default)
        #expect(c.failover == .default)
        #expect(c.databaseNodes[1].port == 5433)
        #expect(c.databaseNodes[1].user == "postgres")
        #expect(c.summary.hasPrefix("cluster shop: 2 regions (us-east, eu-west), 2 database nodes"))
    }

    @Test func unknownKeyIsReportedWithPositionAndSuggestion() {
        let e = errors(valid + "\ndetection:\n  intervall: 1s\n")
        #expect(e.map(\.description) == ["test.yml:20:3: error: detection.intervall: unknown key 'intervall'; did you mean 'interval'?"])
    }

    @Test func wrongTypeNamesWhatWasExpected() {
        let e = errors(valid + "\ndetection:\n  failure_threshold: three\n")
        #expect(e.map(\.description) == ["test.yml:20:22: error: detection.failure_threshold: expected a whole number, found 'three'"])
    }

    @Test func badDurationIsRejected() {
        let e = errors(valid + "\nfailover:\n  cooldown: 5x\n")
        #expect(e.map(\.description) == ["test.yml:20:13: error: failover.cooldown: expected a duration such as 500ms, 5s, 2m or 1h, found '5x'"])
    }

    @Test func duplicateNodeNamesPointAtTheSecond() {
        let yaml = valid.replacingOccurrences(of: "name: pg-b", with: "name: pg-a")
        let e = errors(yaml)
        #expect(e.map(\.description) == ["test.yml:15:13: error: database.nodes[1].name: duplicate node name 'pg-a' (first defined at database.nodes[0].name)"])
    }

    @Test func nodeInUndefinedRegion() {
        let yaml = valid.replacingOccurrences(of: "region: eu-west", with: "region: eu-wset")
        let e = errors(yaml)
        #expect(e.count == 2)
        // Sorted by position: the consequence (eu-west left without a node) comes first.
        #expect(e[0].description == "test.yml:6:5: error: regions[1]: region 'eu-west' has no database node; every region needs one to fail over to")
        #expect(e[1].description == "test.yml:16:15: error: database.nodes[1].region: region 'eu-wset' is not defined under regions (defined: us-east, eu-west); did you mean 'eu-west'?")
    }

    @Test func regionWithoutDatabaseNode() {
        let yaml = valid.replacingOccurrences(of: "    priority: 2\n", with: "    priority: 2\n  - name: ap-south\n    priority: 3\n")
        let e = errors(yaml)
        #expect(e.map(\.description) == ["test.yml:8:5: error: regions[2]: region 'ap-south' has no database node; every region needs one to fail over to"])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let yaml = valid.replacingOccurrences(of: "port: 5433", with: "port: 99999")
            + "\ndetection:\n  interval: soon\n  recovery_threshold: 0\nfailover:\n  automatic: maybe\n  max_lag_bytes: lots\nextra: 1\n"
        let e = errors(yaml)
        let paths = e.map(\.path)
        #expect(paths == ["database.nodes[1].port", "detection.interval", "detection.recovery_threshold",
                          "failover.automatic", "failover.max_lag_bytes", "extra"], "\(e)")
        #expect(e.allSatisfy { $0.line > 0 && $0.column > 0 })
    }

    @Test func missingRequiredKeysPointAtTheirMapping() {
        let e = errors("regions:\n  - name: us-east\ndatabase:\n  nodes:\n    - name: pg-a\n      region: us-east\n")
        #expect(e.map(\.description) == ["test.yml:5:7: error: database.nodes[0].host: missing required key 'host' (address the monitor connects to)"])
    }

    @Test func inlinePasswordWarnsAndNeverPrints() throws {
        let yaml = valid.replacingOccurrences(of: "password_env: PGPASS", with: "password: hunter2")
        let (config, diagnostics) = parse(yaml)
        let c = try #require(config)
        #expect(diagnostics.map(\.description) == ["test.yml:9:3: warning: database.password: inline password: anyone who can read this file can read it; use password_env or password_file"])
        #expect(!"\(c.databaseNodes)".contains("hunter2"))
        #expect(try c.databaseNodes[0].password?.resolve().reveal() == "hunter2")
    }

    @Test func unsetPasswordEnvIsAWarningAndAClearErrorAtResolve() throws {
        let (config, diagnostics) = parse(valid, env: [:])
        #expect(diagnostics.map(\.message) == ["environment variable PGPASS is not set here; the monitor needs it at start"])
        #expect(throws: SecretError.self) { try config?.databaseNodes[0].password?.resolve(environment: [:]) }
    }

    @Test func invalidYAMLGivesItsPosition() {
        let e = errors("regions:\n  - name: [us-east\n")
        #expect(e.count == 1)
        #expect(e[0].line == 3)
        #expect(e[0].message.hasPrefix("not valid YAML"))
    }

    @Test func sizesDurationsAndPlaceholders() throws {
        let yaml = valid + "\nfailover:\n  max_lag_bytes: 512kB\n  max_lag_seconds: 1m\n  retry_delay: 50ms\nfiles: {}\n"
        let (config, diagnostics) = parse(yaml)
        let c = try #require(config)
        #expect(c.failover.maxLagBytes == 512_000)
        #expect(c.failover.maxLagSeconds == .seconds(60))
        #expect(c.failover.retryDelay == .milliseconds(50))
        #expect(diagnostics.map(\.path) == ["files"])
        #expect(diagnostics.allSatisfy { $0.severity == .warning })
    }

    @Test func healthURLsAreChecked() {
        let yaml = valid + "\nservices:\n  - name: web\n    nodes:\n      - name: web-a\n        region: us-east\n        health: ftp://x/healthz\n"
        let e = errors(yaml)
        #expect(e.map(\.description) == ["test.yml:24:17: error: services[0].nodes[0].health: expected an http://, https:// or tcp:// URL with a host, found 'ftp://x/healthz'"])
    }

    @Test func serviceNodeNamesMustNotCollideWithDatabaseNodes() {
        let yaml = valid + "\nservices:\n  - name: web\n    nodes:\n      - name: pg-a\n        region: us-east\n        health: http://127.0.0.1:8080/healthz\n"
        let e = errors(yaml)
        #expect(e.first?.message == "duplicate node name 'pg-a' (first defined at database.nodes[0].name)")
    }
}
