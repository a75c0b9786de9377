import Foundation
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// `lifeboat doctor` against a real PostgreSQL pair: nothing to fix on the sandbox pair as built,
/// then each deliberate misconfiguration named with its fix, and the exit status saying whether a
/// failover would break.
@Suite(.serialized) struct DoctorTests {
    func config(_ cluster: SandboxCluster, dir: URL, user: String = "postgres", port: Int? = nil, lease: Bool = true,
                knot: KnotServer? = nil, sslmode: String = "disable", extra: String = "") throws -> String {
        let path = dir.appendingPathComponent("lifeboat-\(UUID().uuidString.prefix(6)).yml").path
        try """
        cluster: shop
        regions: [{name: \(cluster.nodes[0].region)}, {name: \(cluster.nodes[1].region)}]
        database:
          user: \(user)
          sslmode: \(sslmode)
          nodes:
            - {name: \(cluster.nodes[0].name), region: \(cluster.nodes[0].region), host: \(cluster.nodes[0].address), port: \(port ?? cluster.nodes[0].port)}
            - {name: \(cluster.nodes[1].name), region: \(cluster.nodes[1].region), host: \(cluster.nodes[1].address), port: \(cluster.nodes[1].port)}
        \(lease ? "failover: {lease_ttl: 4s}" : "")
        \(knot.map { knot in """
        dns:
          provider: rfc2136
          zone: \(knot.zone)
          record: app
          targets: {\(cluster.nodes[0].region): 127.0.0.10, \(cluster.nodes[1].region): 127.0.0.20}
          rfc2136: {server: "127.0.0.1:\(knot.port)", key_name: \(knot.keyName), key_secret: \(knot.keySecret)}
        """ } ?? "")
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The NodeBalancer (a stand-in following Linode's document): fine while only the primary's
    /// region's node accepts; a failover-breaking finding when it sends clients elsewhere.
    @Test func theNodeBalancerMustSendClientsToThePrimarysRegion() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-doctor-nb-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let fake = try await FakeLinodeAPI(token: "nb-token")
            defer { Task { await fake.stop() } }
            let (primaryRegion, standbyRegion) = (cluster.nodes[0].region, cluster.nodes[1].region)
            fake.addBalancerNode(111, nodeBalancer: 12345, config: 4567, label: "web-a", address: "192.168.1.10:80", mode: "accept")
            fake.addBalancerNode(222, nodeBalancer: 12345, config: 4567, label: "web-b", address: "192.168.2.10:80", mode: "reject")
            let path = try config(cluster, dir: dir, extra: """
                nodebalancer:
                  id: 12345
                  config_id: 4567
                  nodes: {\(primaryRegion): 111, \(standbyRegion): 222}
                  linode: {token_env: NB_TOKEN, api_url: "\(fake.baseURL)"}
                """)
            let fine = try await CLI.run(["doctor", "--config", path], environment: ["NB_TOKEN": "nb-token"])
            #expect(fine.status == 0 && !fine.stdout.contains("nodebalancer"), "\(fine.stdout)\(fine.stderr)")

            fake.addBalancerNode(111, nodeBalancer: 12345, config: 4567, label: "web-a", address: "192.168.1.10:80", mode: "reject")
            fake.addBalancerNode(222, nodeBalancer: 12345, config: 4567, label: "web-b", address: "192.168.2.10:80", mode: "accept")
            let wrong = try await CLI.run(["doctor", "--config", path], environment: ["NB_TOKEN": "nb-token"])
            #expect(wrong.status == 1, "\(wrong.stdout)")
            #expect(wrong.stdout.contains("BREAKS FAILOVER: nodebalancer: NodeBalancer 12345 sends clients to \(standbyRegion), but the primary \(cluster.nodes[0].name) is in \(primaryRegion)"),
                    "\(wrong.stdout)")
            #expect(wrong.stdout.contains("fix: linode-cli nodebalancers node-update 12345 4567 111 --mode accept"), "\(wrong.stdout)")

            fake.addBalancerNode(111, nodeBalancer: 12345, config: 4567, label: "web-a", address: "192.168.1.10:80", mode: "accept")
            let both = try await CLI.run(["doctor", "--config", path], environment: ["NB_TOKEN": "nb-token"])
            #expect(both.status == 0 && both.stdout.contains("warning: nodebalancer: NodeBalancer 12345 sends clients to"), "\(both.stdout)")

            let denied = try await CLI.run(["doctor", "--config", path], environment: ["NB_TOKEN": "nb-bad-secret-42"])
            #expect(denied.stdout.contains("cannot read NodeBalancer 12345's nodes") && !denied.stdout.contains("nb-bad-secret-42"), "\(denied.stdout)")
        }
    }

    @Test func theSandboxPairHasNothingToFixAndEachMisconfigurationIsNamedWithItsFix() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-doctor-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let primary = cluster.nodes[0], standby = cluster.nodes[1]

            let clean = try await CLI.run(["doctor", "--config", try config(cluster, dir: dir)])
            #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
            #expect(clean.stdout.contains("\(primary.name) (primary, PostgreSQL 15): nothing to fix"), "\(clean.stdout)")
            #expect(clean.stdout.contains("\(standby.name) (standby, PostgreSQL 15): nothing to fix"), "\(clean.stdout)")
            #expect(clean.stdout.hasSuffix("Cluster shop: nothing to fix.\n"), "\(clean.stdout)")

            // Misconfigured: no lease and slow timeouts, a read-only primary, a stale slot, a
            // monitor user without superuser, then a node that cannot be reached.
            _ = try await cluster.psql(primary, "SELECT pg_create_physical_replication_slot('gone_standby')")
            _ = try await cluster.psql(primary, "CREATE ROLE watcher LOGIN")
            _ = try await cluster.psql(primary, "CREATE ROLE replicator LOGIN REPLICATION")
            _ = try await cluster.psql(primary, "GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO replicator")
            _ = try await cluster.psql(standby, "ALTER SYSTEM SET primary_slot_name = ''")
            _ = try await cluster.psql(primary, "ALTER SYSTEM SET default_transaction_read_only = on")
            _ = try await cluster.psql(primary, "SELECT pg_reload_conf()")
            _ = try await cluster.psql(standby, "ALTER SYSTEM SET wal_receiver_timeout = '60s'")
            _ = try await cluster.psql(standby, "ALTER SYSTEM SET wal_keep_size = 0")
            _ = try await cluster.psql(standby, "SELECT pg_reload_conf()")
            let noLease = try config(cluster, dir: dir, lease: false)
            let warned = try await CLI.run(["doctor", "--config", noLease])
            #expect(warned.status == 0, "warnings alone do not fail the command: \(warned.stdout)")
            #expect(warned.stdout.contains("warning: wal_receiver_timeout: wal_receiver_timeout is 60s and there is no primary lease"), "\(warned.stdout)")
            #expect(warned.stdout.contains("fix: ALTER SYSTEM SET wal_receiver_timeout = '5s'; SELECT pg_reload_conf();"), "\(warned.stdout)")
            #expect(warned.stdout.contains("warning: default_transaction_read_only: this primary is read-only"), "\(warned.stdout)")
            #expect(warned.stdout.contains("warning: wal_keep_size: wal_keep_size is 0 and no replication slot keeps WAL"), "\(warned.stdout)")
            #expect(warned.stdout.contains("fix: ALTER SYSTEM SET wal_keep_size = '1GB'; SELECT pg_reload_conf();"), "\(warned.stdout)")
            #expect(warned.stdout.contains("warning: replication slot: slot gone_standby is not in use"), "\(warned.stdout)")
            #expect(warned.stdout.contains("fix: if its standby is gone for good: SELECT pg_drop_replication_slot('gone_standby');"), "\(warned.stdout)")
            #expect(warned.stdout.contains("warning: pg_rewind: replicator can stream but pg_rewind with it would fail (a rejoin would need --reinit): it lacks pg_stat_file(text, boolean), pg_read_binary_file(text), pg_read_binary_file(text, bigint, bigint, boolean), pg_checkpoint"),
                    "\(warned.stdout)")
            #expect(warned.stdout.contains("fix: GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO replicator;"), "\(warned.stdout)")
            #expect(warned.stdout.contains("warning: primary_slot_name: primary_slot_name is not set: this standby does not stream through its slot"), "\(warned.stdout)")

            let weak = try await CLI.run(["doctor", "--config", try config(cluster, dir: dir, user: "watcher")])
            #expect(weak.status == 1, "\(weak.stdout)")
            #expect(weak.stdout.contains("BREAKS FAILOVER: role: the monitor's user is not a superuser"), "\(weak.stdout)")

            let json = try await CLI.run(["doctor", "--json", "--config", try config(cluster, dir: dir, port: 1)])
            #expect(json.status == 1)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
            let findings = report["findings"] as? [[String: Any]] ?? []
            #expect(findings.contains { $0["node"] as? String == primary.name && $0["subject"] as? String == "connection" && $0["severity"] as? String == "breaks-failover" },
                    "\(json.stdout)")
            #expect(findings.contains { $0["subject"] as? String == "role" && ($0["problem"] as? String ?? "").contains("no reachable node is out of recovery") })

            // pg_hba.conf on the standby without its replication lines: the primary could not stream
            // from it after a failover.
            let hbaFile = "\(standby.dataDirectory)/pg_hba.conf"
            let hba = try String(contentsOfFile: hbaFile, encoding: .utf8)
            let withoutReplication = hba.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.split(separator: " ").contains("replication") }.joined(separator: "\n")
            try withoutReplication.write(toFile: hbaFile, atomically: false, encoding: .utf8)
            _ = try await cluster.psql(standby, "SELECT pg_reload_conf()")
            let noHBA = try await CLI.run(["doctor", "--config", try config(cluster, dir: dir)])
            #expect(noHBA.status == 1, "\(noHBA.stdout)")
            #expect(noHBA.stdout.contains("BREAKS FAILOVER: pg_hba.conf: no line admits replication from \(primary.name) (\(primary.address))"), "\(noHBA.stdout)")
            try hba.write(toFile: hbaFile, atomically: false, encoding: .utf8)
            _ = try await cluster.psql(standby, "SELECT pg_reload_conf()")

            // The traffic record: right while it points at the primary's region, named when it does not.
            let knot = try KnotServer()
            defer { knot.stop() }
            try await knot.waitUntilServing()
            let withDNS = try config(cluster, dir: dir, knot: knot)
            let pointing = try await CLI.run(["doctor", "--config", withDNS])
            #expect(pointing.status == 0 && !pointing.stdout.contains("record:"), "\(pointing.stdout)")
            #expect(try await CLI.run(["dns", "point", "--to", standby.region, "--config", withDNS]).status == 0)
            let misrouted = try await CLI.run(["doctor", "--config", withDNS])
            #expect(misrouted.status == 1, "\(misrouted.stdout)")
            #expect(misrouted.stdout.contains("BREAKS FAILOVER: record: app.lifeboat.test. sends clients to \(standby.region), but the primary \(primary.name) is in \(primary.region)"),
                    "\(misrouted.stdout)")
            #expect(misrouted.stdout.contains("fix: lifeboat dns point --to \(primary.region)"), "\(misrouted.stdout)")

            // TLS offered, not used: the sandbox servers have ssl off, so nothing is said.
            #expect(!warned.stdout.contains("sslmode"), "\(warned.stdout)")

            let missing = try await CLI.run(["doctor", "--config", dir.appendingPathComponent("nope.yml").path])
            #expect(missing.status != 0 && missing.status != 1 && missing.stderr.contains("nope.yml"), "\(missing.status) \(missing.stderr)")
            _ = try await cluster.psql(primary, "ALTER SYSTEM RESET default_transaction_read_only")
            _ = try await cluster.psql(primary, "SELECT pg_reload_conf()")
        }
    }
}
