import Foundation
import LifeboatConfig
import Testing

private func parse(_ yaml: String) -> (AgentConfiguration?, [Diagnostic]) {
    AgentConfigParser.parse(yaml: yaml, file: "agent.yml", environment: ["KEY": "k"])
}

@Suite struct AgentConfigTests {
    @Test func theShippedExampleIsValid() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/agent.yml")
        let (config, diagnostics) = AgentConfigParser.parse(yaml: try String(contentsOf: url, encoding: .utf8), file: "examples/agent.yml")
        let errors = diagnostics.filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(errors)")
        let c = try #require(config)
        #expect(c.node == "pg-eu-west-1")
        #expect(c.listen == HostPort(host: "0.0.0.0", port: 8548))
        #expect(c.checks.map(\.type) == ["postgresql", "tcp", "http", "disk", "command"])
        #expect(c.checks[3].kind == .disk(path: "/var/lib/app", minFreeBytes: 2 << 30, minFreePercent: nil))
        #expect(c.checks[4].timeout == .seconds(3))
        let files = try #require(c.files)
        #expect(files.bandwidthLimitKiB == 20 * 1024)
        #expect(files.source(of: "us-east") == .daemon(host: "10.0.1.5", port: nil))
        #expect(files.primaryRegion == "us-east")
    }

    @Test func tlsInTheAgentConfig() throws {
        let base = "node: pg-a\nregion: us-east\nkey_env: KEY\ndatabase: {host: 127.0.0.1}\n"
        let tls = "tls: {cert_file: /etc/lifeboat/tls/pg-a.crt, key_file: /etc/lifeboat/tls/pg-a.key, ca_file: /etc/lifeboat/tls/ca.crt, client_certificates: require}\n"
        let (config, diagnostics) = parse(base + tls)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(config?.tls == TLSSettings(certFile: "/etc/lifeboat/tls/pg-a.crt", keyFile: "/etc/lifeboat/tls/pg-a.key",
                                           caFile: "/etc/lifeboat/tls/ca.crt", clientCertificates: .require))
        let text = { (yaml: String) in parse(base + yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text("tls: {key_file: /a.key}\n").contains("error: tls: cert_file and key_file go together"))
        #expect(text("tls: {ca_file: ca.crt}\n").contains("error: tls.ca_file: expected an absolute path"))
        #expect(text("tls: {ca_file: /ca.crt, verify: false}\n").contains("verify"))
        #expect(parse(base + "tls: {ca_file: /ca.crt, verify: false}\n").0 == nil, "unknown keys are refused")
        #expect(text(tls + "lease: {monitor: http://10.0.0.5:8547}\n").contains("warning: lease.monitor: plain HTTP although tls: is set"))
        #expect(!text(tls + "lease: {monitor: https://10.0.0.5:8547}\n").contains("plain HTTP"))
    }

    @Test func theLeaseNamesOneMonitorOrEveryMonitor() throws {
        let base = "node: pg-a\nregion: us-east\nkey_env: KEY\ndatabase: {host: 127.0.0.1}\n"
        #expect(parse(base + "lease: {monitor: http://10.0.0.5:8547}\n").0?.lease?.monitors == ["http://10.0.0.5:8547"])
        let several = try #require(parse(base + "lease:\n  monitor: [http://10.0.0.5:8547, http://10.0.1.5:8547]\n  renew_every: 500ms\n").0?.lease)
        #expect(several == LeaseConfig(monitors: ["http://10.0.0.5:8547", "http://10.0.1.5:8547"], renewEvery: .milliseconds(500)))
        let text = { (yaml: String) in parse(base + yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text("lease: {monitor: [http://10.0.0.5:8547, 'ftp://x']}\n").contains("lease.monitor[1]: expected the monitor's base URL"))
        #expect(text("lease: {monitor: []}\n").contains("error: lease.monitor: expected at least one monitor URL"))
        #expect(parse(base + "lease: {monitor: [http://10.0.0.5:8547, 'ftp://x']}\n").0 == nil, "nothing half-applied")
    }

    @Test func thePostgresqlSectionForRejoin() throws {
        let base = "node: pg-a\nregion: us-east\nkey_env: KEY\ndatabase: {host: 127.0.0.1}\n"
        let (config, diagnostics) = parse(base + "postgresql: {data_directory: /var/lib/postgresql/15/main, config_directory: /etc/postgresql/15/main, run_as: postgres, passfile: /var/lib/postgresql/.pgpass, sslmode: verify-full}\n")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let control = try #require(config?.postgresql)
        #expect(control == PostgresControl(dataDirectory: "/var/lib/postgresql/15/main", configDirectory: "/etc/postgresql/15/main", runAs: "postgres",
                                           passfile: "/var/lib/postgresql/.pgpass", sslmode: .verifyFull))
        #expect(control.binDirectory == "/usr/lib/postgresql/15/bin" && control.replicationUser == "replicator")
        let text = { (yaml: String) in parse(base + yaml).1.map(\.description).joined(separator: "\n") }
        #expect(text("postgresql: {run_as: postgres}\n").contains("postgresql.data_directory"))
        #expect(text("postgresql: {data_directory: main}\n").contains("error: postgresql.data_directory: expected an absolute path"))
        #expect(text("postgresql: {data_directory: /d, sslmode: verify-ca}\n").contains("error: postgresql.sslmode: expected one of"))
        #expect(text("postgresql: {data_directory: /d, replication_user: \"a b\"}\n").contains("postgresql.replication_user"))
        #expect(text("postgresql: {data_directory: /d, pg_ctl: /x}\n").contains("pg_ctl"))
        #expect(parse(base + "postgresql: {data_directory: /d, pg_ctl: /x}\n").0 == nil, "unknown keys are refused")
        #expect(parse(base + "postgresql: {data_directory: main}\n").0 == nil, "nothing half-applied")
        #expect(parse("node: pg-a\nregion: us-east\nkey_env: KEY\npostgresql: {data_directory: /d}\n").1.map(\.description).joined().contains("needs the database: section"))
    }

    @Test func everyProblemIsReportedWithItsPosition() {
        let (config, diagnostics) = parse("""
            node: app-1
            region: us-east
            key_env: KEY
            lisen: 0.0.0.0:1
            fence:
              method: stop
            checks:
              - name: db
                type: postgresql
              - name: port
                type: tpc
              - type: command
                command: [healthcheck]
              - type: disk
                path: /data
            files:
              primary_region: eu-west
              paths:
                - name: up loads
                  path: relative/dir
              sources:
                - region: us-east
                  url: ftp://x
            """)
        #expect(config == nil)
        #expect(!diagnostics.contains { $0.message.contains("fencing needs the database") }, "no second error for the same fence section")
        let text = diagnostics.map(\.description).joined(separator: "\n")
        for expected in [
            "agent.yml:4:1: error: lisen: unknown key 'lisen'; did you mean 'listen'?",
            "agent.yml:6:3: error: fence.data_directory: missing required key 'data_directory'",
            "agent.yml:8:5: error: checks[0].type: a postgresql check needs the database: section",
            "agent.yml:11:11: error: checks[1].type: expected one of postgresql, mysql, tcp, http, disk, command, found 'tpc'; did you mean 'tcp'?",
            "agent.yml:13:15: error: checks[2].command[0]: give the program's absolute path, found 'healthcheck'",
            "checks[3].min_free: missing required key 'min_free'",
            "files.primary_region: no entry in files.sources for region 'eu-west'",
            "files.paths[0].name: use letters, digits, - and _ only, found 'up loads'",
            "files.paths[0].path: expected an absolute directory, found 'relative/dir'",
            "files.sources[0].url: expected rsync://host[:port], ssh://[user@]host[:port] or an absolute directory, found 'ftp://x'",
        ] {
            #expect(text.contains(expected), "missing: \(expected)\nin:\n\(text)")
        }
    }

    @Test func aMissingKeyAndAnInlineKeyAreReported() {
        let (missing, d1) = parse("node: a\nregion: r\n")
        #expect(missing == nil)
        #expect(d1.contains { $0.path == "key_file" && $0.message.contains("missing required key") })
        let (inline, d2) = parse("node: a\nregion: r\nkey: s3cret\n")
        #expect(inline != nil)
        #expect(d2.contains { $0.severity == .warning && $0.path == "key" })
        #expect(!d2.map(\.description).joined().contains("s3cret"), "the key itself is never printed")
    }

    @Test func sourcesOfEveryKindParse() throws {
        let (config, diagnostics) = parse("""
            node: a
            region: eu-west
            key_env: KEY
            files:
              primary_region: us-east
              bwlimit: 512KiB
              paths: [{name: uploads, path: /srv/uploads}]
              sources:
                - {region: us-east, url: "ssh://sync@10.0.1.5:2222"}
                - {region: ap-south, url: "rsync://10.0.3.5:8730"}
                - {region: eu-west, url: /srv/mirror}
            """)
        #expect(diagnostics.filter { $0.severity == .error }.isEmpty, "\(diagnostics)")
        let files = try #require(config?.files)
        #expect(files.source(of: "us-east") == .ssh(user: "sync", host: "10.0.1.5", port: 2222))
        #expect(files.source(of: "ap-south") == .daemon(host: "10.0.3.5", port: 8730))
        #expect(files.source(of: "eu-west") == .local("/srv/mirror"))
        #expect(files.bandwidthLimitKiB == 512)
    }
}
