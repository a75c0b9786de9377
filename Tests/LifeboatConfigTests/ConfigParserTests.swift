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
    @Test func durabilityAndRejoinPolicies() throws {
        #expect(parse(valid).0?.failover.durability.managed == false, "without the section synchronous_standby_names is left alone")
        #expect(parse(valid).0?.failover.rejoin == .switchover)
        let (config, diagnostics) = parse(valid + "\ndurability: {mode: quorum, when_short: async}\nfailover: {rejoin: auto}\n")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(config?.failover.durability == DurabilityPolicy(mode: .quorum, whenShort: .async))
        #expect(config?.failover.rejoin == .auto)
        #expect(parse(valid + "\ndurability: {}\n").0?.failover.durability == DurabilityPolicy(mode: .async, whenShort: .wait))
        let text = { (yaml: String) in parse(valid + "\n" + yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text("durability: {mode: synchronous}\n").contains("error: durability.mode: expected one of async, sync, quorum, found 'synchronous'"))
        #expect(text("durability: {mode: sync, when_short: degrade}\n").contains("durability.when_short"))
        #expect(text("durability: {mode: sync, strict: true}\n").contains("strict"))
        #expect(parse(valid + "\ndurability: {mode: sync, strict: true}\n").0 == nil, "unknown keys are refused")
        #expect(text("failover: {rejoin: always}\n").contains("error: failover.rejoin: expected one of manual, switchover, auto, reinit, found 'always'"))
    }

    @Test func replicationSlots() throws {
        #expect(parse(valid).0?.failover.slots == SlotPolicy(managed: true, alertRetainedBytes: 1 << 30), "managed by default")
        let (config, diagnostics) = parse(valid + "\nreplication_slots: {managed: false, alert_retained: 4GiB}\n")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(config?.failover.slots == SlotPolicy(managed: false, alertRetainedBytes: 4 << 30))
        let text = { (yaml: String) in parse(yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text(valid + "\nreplication_slots: {manage: true}\n").contains("manage"))
        #expect(parse(valid + "\nreplication_slots: {manage: true}\n").0 == nil, "unknown keys are refused")
        #expect(text(valid + "\nreplication_slots: {alert_retained: 0}\n").contains("error: replication_slots.alert_retained: must be more than 0 bytes"))
        #expect(text(valid + "\nreplication_slots: {managed: maybe}\n").contains("replication_slots.managed"))
        // pg-b and PG_B would stream through the same slot.
        let clash = valid.replacingOccurrences(of: "    - name: pg-a\n", with: "    - name: PG_B\n")
        #expect(text(clash).contains("nodes PG_B and pg-b would share the replication slot lifeboat_pg_b"), "\(text(clash))")
        #expect(parse(clash + "\nreplication_slots: {managed: false}\n").0 != nil, "no clash when Lifeboat keeps no slots")
    }

    @Test func aNodeBalancerFollowsThePrimaryRegion() throws {
        let section = "\nnodebalancer:\n  id: 12345\n  config_id: 4567\n  nodes: {us-east: 111, eu-west: 222}\n  standby_mode: drain\n  linode: {token_env: LINODE_NB_TOKEN}\n"
        let (config, diagnostics) = parse(valid + section, env: ["PGPASS": "x", "LINODE_NB_TOKEN": "t"])
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let nb = try #require(config?.nodeBalancer)
        #expect(nb.id == 12345 && nb.configID == 4567 && nb.nodes == ["us-east": 111, "eu-west": 222] && nb.standbyMode == .drain)
        #expect(nb.linode.token == .environment("LINODE_NB_TOKEN"))
        #expect(config?.summary.contains("NodeBalancer 12345 config 4567 (standby nodes: drain)") == true)
        let text = { (yaml: String) in parse(valid + yaml, env: ["PGPASS": "x", "T": "t"]).1.map(\.description).joined(separator: "\n") }
        #expect(text("\nnodebalancer: {id: 1, config_id: 2, nodes: {us-east: 111}, linode: {token_env: T}}\n").contains("nodebalancer.nodes.eu-west: missing"))
        #expect(text("\nnodebalancer: {id: 1, config_id: 2, nodes: {us-east: 111, eu-west: 111}, linode: {token_env: T}}\n").contains("two regions name the same node"))
        #expect(text("\nnodebalancer: {id: 1, config_id: 2, nodes: {us-east: 1, eu-west: 2, ap-south: 3}, linode: {token_env: T}}\n").contains("ap-south"))
        #expect(text("\nnodebalancer: {id: 1, config_id: 2, nodes: {us-east: 1, eu-west: 2}, standby_mode: off, linode: {token_env: T}}\n")
            .contains("nodebalancer.standby_mode: expected one of reject, drain, found 'off'"))
        #expect(text("\nnodebalancer: {id: 1, nodes: {us-east: 1, eu-west: 2}, linode: {token_env: T}}\n").contains("config_id"))
        #expect(text("\nnodebalancer: {id: 1, config_id: 2, nodes: {us-east: 1, eu-west: 2}, linode: {token_env: T, api_url: 'http://example.com/v4'}}\n")
            .contains("nodebalancer.linode.api_url"))
        #expect(parse(valid + "\nnodebalancer: {id: 1, config_id: 2, nodes: {us-east: 1, eu-west: 2}, linode: {token_env: T}, weight: 3}\n", env: ["PGPASS": "x", "T": "t"]).0 == nil)
    }

    @Test func hardFencingByLinodePowerOff() throws {
        let withIDs = (valid + "\n").replacingOccurrences(of: "      port: 5432\n", with: "      port: 5432\n      linode_id: 111\n")
            .replacingOccurrences(of: "      port: 5433\n", with: "      port: 5433\n      linode_id: 222\n")
        let (config, diagnostics) = parse(withIDs + "fencing:\n  power_off: linode\n  wait: 45s\n  linode: {token_env: LINODE_TOKEN}\n",
                                          env: ["PGPASS": "x", "LINODE_TOKEN": "t"])
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let c = try #require(config)
        #expect(c.databaseNodes.map(\.linodeID) == [111, 222])
        #expect(c.fencing?.wait == .seconds(45))
        #expect(c.fencing?.linode.token == .environment("LINODE_TOKEN"))

        let text = { (yaml: String) in parse(yaml, env: ["PGPASS": "x", "LINODE_TOKEN": "t"]).1.map(\.description).joined(separator: "\n") }
        #expect(text(withIDs + "fencing:\n  power_off: ipmi\n  linode: {token_env: LINODE_TOKEN}\n")
            .contains("fencing.power_off: expected linode (the only power-off provider in this version), found 'ipmi'"))
        #expect(text(withIDs + "fencing:\n  power_off: linode\n  linode: {}\n").contains("fencing.linode.token_env: missing"))
        #expect(text(withIDs + "fencing:\n  power_of: linode\n").contains("power_of"))
        #expect(text(valid + "\nfencing:\n  power_off: linode\n  linode: {token_env: LINODE_TOKEN}\n")
            .contains("error: fencing: no database node has a linode_id"))
        #expect(text(withIDs).contains("warning: database.nodes: pg-a has a linode_id but there is no fencing: section"))
        #expect(text(withIDs.replacingOccurrences(of: "linode_id: 111", with: "linode_id: -3")).contains("database.nodes[0].linode_id"))
        #expect(text(withIDs + "fencing:\n  power_off: linode\n  wait: 0s\n  linode: {token_env: LINODE_TOKEN}\n").contains("fencing.wait"))
    }

    @Test func severalMonitorsOverEtcd() throws {
        let (config, diagnostics) = parse(valid + """

            failover: {lease_ttl: 4s}
            etcd:
              endpoints: [http://10.0.1.10:2379, "http://10.0.2.10:2379"]
              session_ttl: 5s
              advertise: http://10.0.0.5:8547
            """)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let etcd = try #require(config?.etcd)
        #expect(etcd == EtcdConfig(endpoints: ["http://10.0.1.10:2379", "http://10.0.2.10:2379"], sessionTTLSeconds: 5, advertise: "http://10.0.0.5:8547"))
        #expect(try #require(parse(valid + "\netcd: {endpoints: [http://127.0.0.1:2379]}\n").0?.etcd?.sessionTTLSeconds) == 3)

        let text = { (yaml: String) in parse(valid + "\n" + yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text("etcd: {endpoints: [\"https://10.0.1.10:2379\"]}").contains("etcd.endpoints[0]: expected an etcd client URL such as http://10.0.1.10:2379"))
        #expect(text("etcd: {endpoints: [http://10.0.1.10]}").contains("etcd.endpoints[0]"))
        #expect(text("etcd: {endpoints: []}").contains("error: etcd.endpoints: expected at least one etcd client URL"))
        #expect(text("etcd: {}").contains("etcd.endpoints"))
        #expect(text("etcd: {endpoints: [http://a:1], session_ttl: 1s}").contains("etcd.session_ttl"))
        #expect(text("etcd: {endpoints: [http://a:1], session_ttl: 2500ms}").contains("etcd.session_ttl: etcd counts leases in whole seconds"))
        #expect(text("etcd: {endpoints: [http://a:1], sesion_ttl: 3s}").contains("sesion_ttl"))
        #expect(text("etcd: {endpoints: [http://a:1], advertise: 'ftp://x'}").contains("etcd.advertise: expected this monitor's API base URL"))
        #expect(text("etcd: {endpoints: [http://a:1]}").contains("warning: etcd: several monitors without failover.lease_ttl"))
        #expect(!text("failover: {lease_ttl: 4s}\netcd: {endpoints: [http://a:1]}").contains("several monitors without"))
    }

    @Test func tlsForTheAPIsIsCheckedFieldByField() throws {
        let (config, diagnostics) = parse(valid + """

            tls:
              cert_file: /etc/lifeboat/tls/monitor.crt
              key_file: /etc/lifeboat/tls/monitor.key
              ca_file: /etc/lifeboat/tls/ca.crt
              client_certificates: require
            """)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        #expect(config?.tls == TLSSettings(certFile: "/etc/lifeboat/tls/monitor.crt", keyFile: "/etc/lifeboat/tls/monitor.key",
                                           caFile: "/etc/lifeboat/tls/ca.crt", clientCertificates: .require))
        #expect(try #require(parse(valid + "\ntls: {ca_file: /ca.crt}\n").0?.tls) == TLSSettings(caFile: "/ca.crt"))
        #expect(parse(valid + "\ntls: null\n").0?.tls == nil)

        let text = { (yaml: String) in parse(valid + "\n" + yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text("tls: {cert_file: /a.crt}").contains("error: tls: cert_file and key_file go together"))
        #expect(text("tls: {cert_file: certs/a.crt, key_file: /a.key}").contains("error: tls.cert_file: expected an absolute path to a PEM file, found 'certs/a.crt'"))
        #expect(text("tls: {cert_file: /a.crt, key_file: /a.key, client_certificates: optional}")
            .contains("error: tls.client_certificates: expected none or require, found 'optional'"))
        #expect(text("tls: {cert_file: /a.crt, key_file: /a.key, client_certificates: require}").contains("error: tls.client_certificates: require needs ca_file"))
        #expect(text("tls: {}").contains("error: tls: expected cert_file and key_file"))
        #expect(text("tls: {ca_file: /ca.crt, cert: /a.crt}").contains("cert"))
        #expect(text("tls: [/a.crt]").contains("tls"))
        #expect(parse(valid + "\ntls: {cert_file: /a.crt}\n").0 == nil, "nothing half-applied")
        // An agent called over plain HTTP when the monitor has TLS is worth a warning.
        let withAgents = valid.replacingOccurrences(of: "      port: 5432\n", with: "      port: 5432\n      agent: http://10.0.0.1:8548\n")
            .replacingOccurrences(of: "      port: 5433\n", with: "      port: 5433\n      agent: https://10.0.0.2:8548\n")
            + "\nagents: {key_env: KEY}\n"
        let warned = parse(withAgents + "tls: {ca_file: /ca.crt}\n", env: ["PGPASS": "x", "KEY": "k"]).1.map(\.description).joined(separator: "\n")
        #expect(warned.contains("warning: database.nodes[0].agent: plain HTTP although tls: is set"), "\(warned)")
        #expect(!warned.contains("database.nodes[1].agent"), "\(warned)")
        let quiet = parse(withAgents, env: ["PGPASS": "x", "KEY": "k"]).1.map(\.description).joined(separator: "\n")
        #expect(!quiet.contains("plain HTTP"), "\(quiet)")
    }

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

    @Test func theRegionTriggerNeedsApplicationNodesInEveryDatabaseRegion() throws {
        let oneRegion = valid + """

            failover: {trigger: region, min_healthy: 2}
            services:
              - name: web
                nodes:
                  - {name: web-a1, region: us-east, health: "http://127.0.0.1:8081/healthz", address: 192.0.2.11}
                  - {name: web-a2, region: us-east, health: "http://127.0.0.1:8082/healthz", address: 192.0.2.99}
                  - {name: web-b1, region: eu-west, health: "http://127.0.0.1:8083/healthz", address: nope}
            dns:
              provider: rfc2136
              zone: example.com
              record: app
              targets: {us-east: [192.0.2.11, 192.0.2.12], eu-west: 198.51.100.21}
              rfc2136: {server: 192.0.2.53, key_name: k, key_secret_env: TSIG}
            """
        let messages = errors(oneRegion).map(\.message)
        #expect(messages.contains("expected the IPv4 address the DNS record holds for this node, such as 192.0.2.10, found 'nope'"), "\(messages)")
        #expect(messages.contains("192.0.2.99 is not one of region us-east's dns.targets (192.0.2.11, 192.0.2.12): the record could never hold it"), "\(messages)")
        #expect(messages.contains("region needs at least min_healthy (2) application nodes under services: in every region with a database node; eu-west has fewer, so it could never serve"),
                "\(messages)")

        let good = valid + """

            failover: {trigger: region}
            services:
              - name: web
                nodes:
                  - {name: web-a1, region: us-east, health: "http://127.0.0.1:8081/healthz"}
                  - {name: web-b1, region: eu-west, health: "tcp://127.0.0.1:8083"}
            """
        #expect(errors(good).map(\.message) == [
            "region needs an agent in another region to confirm a region's application tier is down; nothing could confirm it for eu-west, us-east (give nodes in the other regions an agent:)",
        ])
        let withAgents = good.replacingOccurrences(of: #"health: "http://127.0.0.1:8081/healthz"}"#, with: #"health: "http://127.0.0.1:8081/healthz", agent: "http://127.0.0.1:8548"}"#)
            .replacingOccurrences(of: #"health: "tcp://127.0.0.1:8083"}"#, with: #"health: "tcp://127.0.0.1:8083", agent: "http://127.0.0.1:8549"}"#)
            + "\nagents: {key_env: AGENT_KEY}\n"
        let (config, diagnostics) = parse(withAgents)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        #expect(config?.failover.trigger == .region && config?.failover.minHealthy == 1)
        let (_, warned) = parse(valid + "\nfailover: {min_healthy: 2}\n")
        #expect(warned.map(\.message) == ["has no effect with failover.trigger: database (the application tier only informs)"])
        #expect(errors(valid + "\nfailover: {trigger: regions}\n").first?.message.contains("did you mean 'region'") == true)
    }

    @Test func serviceNodeNamesMustNotCollideWithDatabaseNodes() {
        let yaml = valid + "\nservices:\n  - name: web\n    nodes:\n      - name: pg-a\n        region: us-east\n        health: http://127.0.0.1:8080/healthz\n"
        let e = errors(yaml)
        #expect(e.first?.message == "duplicate node name 'pg-a' (first defined at database.nodes[0].name)")
    }
}

/// Inputs a new operator (or a fuzzer) gives: each is a located error, never a crash, and a
/// secret given in the wrong place is never echoed.
@Suite struct StrictConfigTests {
    static let base = """
        regions:
          - name: us-east
          - name: eu-west
        database:
          nodes:
            - {name: pg-a, region: us-east, host: 10.0.0.1}
            - {name: pg-b, region: eu-west, host: 10.0.0.2}

        """

    func errors(_ yaml: String, environment: [String: String] = [:]) -> [Diagnostic] {
        let (config, diagnostics) = ConfigParser.parse(yaml: yaml, file: "t.yml", environment: environment)
        let errors = diagnostics.filter { $0.severity == .error }
        #expect(config == nil || errors.isEmpty)
        return errors
    }

    @Test func hugeDurationsAndSizesAreErrorsNotTraps() {
        for text in ["99999999999999h", "9223372036854775807s", "100000000000000000000ms"] {
            let found = errors(Self.base + "detection:\n  interval: \(text)\n")
            #expect(found.map(\.description) == ["t.yml:9:13: error: detection.interval: must be at most 1h, found '\(text)'"], "\(text)")
        }
        let cooldown = errors(Self.base + "failover:\n  cooldown: 9223372036854775807s\n  max_lag_bytes: 99999999999999999GiB\n  max_lag_seconds: 9223372036854775807\n")
        #expect(cooldown.map(\.path) == ["failover.cooldown", "failover.max_lag_bytes", "failover.max_lag_seconds"])
        #expect(cooldown[0].message == "must be at most 720h, found '9223372036854775807s'")
        #expect(cooldown[1].message == "must be at most 1PiB, found '99999999999999999GiB'")
    }

    @Test func yamlProblemsCarryTheirRealPosition() {
        let bad = errors("regions:\n  - name: us-east\n    priority: [1,\n")
        #expect(bad.count == 1)
        #expect(bad.first.map { $0.line >= 3 } == true, "\(bad)")
        let duplicate = errors(Self.base + "cluster: a\ncluster: b\n")
        #expect(duplicate.count == 1)
        #expect(duplicate.first?.line == 8 || duplicate.first?.line == 9, "\(duplicate)")
        #expect(duplicate.first?.message.contains("'cluster'") == true, "\(duplicate)")
        // A control character: its own line and column, and the file is not dumped into the message.
        let control = errors(Self.base + "cluster: sh\u{07}op\n")
        #expect(control.count == 1)
        #expect(control.first?.line == 8 && control.first?.column == 12, "\(control)")
        #expect(control.first?.message.contains("U+0007") == true, "\(control)")
        #expect(control.first?.message.contains("pg-a") == false, "the file is not dumped")
        #expect(control.first?.description.contains("\u{07}") == false)
    }

    @Test func aTSIGSecretThatIsNotBase64IsAnErrorThatDoesNotShowIt() {
        let dns = """
            dns:
              provider: rfc2136
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.1, eu-west: 192.0.2.2}
              rfc2136: {server: 192.0.2.53, key_name: k, key_secret_env: TSIG}

            """
        let found = errors(Self.base + dns, environment: ["TSIG": "not base64 at all!"])
        #expect(found.map(\.path) == ["dns.rfc2136.key_secret_env"])
        #expect(found.first?.message == "the TSIG secret is not base64 (tsig-keygen prints it so) (its value is not shown)")
        #expect(!found.map(\.description).joined().contains("not base64 at all!"))
        #expect(errors(Self.base + dns, environment: ["TSIG": "c2VjcmV0LWtleS1ieXRlcw=="]).isEmpty)
    }

    @Test func aSecretPastedIntoAnEnvFieldIsRefusedWithoutEchoingIt() {
        let token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766554433221100"
        for value in [token, "sk_live_51H8aBcDeFgHiJkLmNoPq", "https://hooks.slack.com/services/T000/B000/XXXX"] {
            let found = errors(Self.base + "api:\n  token_env: \(value)\n")
            #expect(found.map(\.path) == ["api.token_env"], "\(value)")
            #expect(!found.map(\.description).joined().contains(value), "echoed \(value)")
        }
        let file = errors(Self.base + "api:\n  token_file: \(token)\n")
        #expect(file.map(\.path) == ["api.token_file"])
        #expect(!file.map(\.description).joined().contains(token))
        #expect(errors(Self.base + "api:\n  token_env: LIFEBOAT_API_TOKEN\n").isEmpty)
    }

    @Test func linodeAPIURLOverPlainHTTPOnlyToALoopbackAddress() {
        func linode(_ url: String) -> [Diagnostic] {
            errors(Self.base + """
                dns:
                  provider: linode
                  zone: example.com
                  record: app
                  ttl: 300
                  targets: {us-east: 192.0.2.1, eu-west: 192.0.2.2}
                  linode: {token_env: LINODE_TOKEN, api_url: "\(url)"}

                """)
        }
        for bad in ["http://localhost.attacker.example/v4", "http://10.0.0.5/v4", "http://127.0.0.1.nip.io/v4", "ftp://127.0.0.1/v4", "https:///v4"] {
            #expect(linode(bad).map(\.path) == ["dns.linode.api_url"], "\(bad) was accepted")
        }
        let withPassword = linode("https://user:hunter2@api.linode.com/v4")
        #expect(withPassword.map(\.path) == ["dns.linode.api_url"])
        #expect(!withPassword.map(\.description).joined().contains("hunter2"))
        for good in ["https://api.linode.com/v4", "http://127.0.0.1:8080/v4", "http://localhost:9/v4", "http://[::1]:8080/v4"] {
            #expect(linode(good).isEmpty, "\(good) was refused: \(linode(good))")
        }
    }

    @Test func namesThatWouldForgeLogLinesAreRefused() {
        let found = errors("regions:\n  - name: \"us-east\\nforged\"\ndatabase:\n  nodes:\n    - {name: \"pg\\u001b[31m\", region: us-east, host: 10.0.0.1}\n")
        #expect(found.map(\.path).contains("regions[0].name"))
        #expect(found.map(\.path).contains("database.nodes[0].name"))
        #expect(!found.map(\.description).joined().contains("\n"))
        #expect(!found.map(\.description).joined().contains("\u{1B}"))
    }
}
