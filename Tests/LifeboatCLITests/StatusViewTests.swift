import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatHTTP
import Testing
@testable import lifeboat

/// What `lifeboat status` prints from the monitor's view, and where the CLI finds the monitor.
@Suite struct StatusViewTests {
    func node(_ name: String, role: String, receiver: String? = nil, reachable: Bool = true) -> StatusView.Node {
        StatusView.Node(name: name, region: name == "pg-a" ? "us-east" : "eu-west", role: role, health: reachable ? "healthy" : "unhealthy",
                        reachable: reachable, lsn: "0/3000000", lagBytes: nil, lagSeconds: nil, walReceiver: receiver, lastError: nil,
                        observedAgoSeconds: 0.2)
    }

    func view(_ nodes: [StatusView.Node], state: String = "monitoring") -> StatusView {
        StatusView(cluster: "shop", state: state, primary: nodes.first { $0.role == "primary" }?.name, epoch: 3, paused: false,
                   lastDecision: "-", nodes: nodes)
    }

    @Test func aHealthyPairHasNothingToWarnAbout() {
        let table = Lifeboat.Status.table(view([node("pg-a", role: "primary"), node("pg-b", role: "standby", receiver: "streaming")]))
        #expect(!table.contains("WARNING"), "\(table)")
    }

    @Test func noStandbyNoWritablePrimaryAndAStandbyNotStreamingAreSaid() {
        let alone = Lifeboat.Status.table(view([node("pg-a", role: "primary"), node("pg-b", role: "unknown", reachable: false)]))
        #expect(alone.contains("WARNING: no standby: a failover would have nowhere to go"), "\(alone)")

        let fenced = Lifeboat.Status.table(view([node("pg-a", role: "fenced"), node("pg-b", role: "standby", receiver: "streaming")]))
        #expect(fenced.contains("WARNING: no writable primary: pg-a fenced (read-only)"), "\(fenced)")
        #expect(fenced.contains("| fenced  | fenced (read-only) |"), "a fenced node is never shown healthy: \(fenced)")
        #expect(!fenced.contains("while the failover runs"))
        let promoting = Lifeboat.Status.table(view([node("pg-a", role: "fenced"), node("pg-b", role: "standby", receiver: "streaming")], state: "promoting"))
        #expect(promoting.contains("no writable primary: pg-a fenced (read-only) while the failover runs"), "\(promoting)")

        let stalled = Lifeboat.Status.table(view([node("pg-a", role: "primary"), node("pg-b", role: "standby", receiver: "stopped")]))
        #expect(stalled.contains("WARNING: standby pg-b is not streaming from the primary (WAL receiver: stopped)"), "\(stalled)")
        #expect(!stalled.contains("no standby"))
    }

    @Test func theLeaseIsShownAsTheMonitorCountsIt() {
        var held = view([node("pg-a", role: "primary"), node("pg-b", role: "standby", receiver: "streaming")])
        held.lease = StatusView.Lease(holder: "pg-a", epoch: 3, remainingSeconds: 3.21, released: false)
        #expect(Lifeboat.Status.table(held).contains("Lease: held by pg-a, 3.2s left (epoch 3)"))
        held.lease?.remainingSeconds = 0
        #expect(Lifeboat.Status.table(held).contains("Lease: pg-a's ran out: it has fenced itself"))
        held.lease?.released = true
        #expect(Lifeboat.Status.table(held).contains("Lease: released by pg-a (its PostgreSQL is down)"))
        held.lease = nil
        #expect(!Lifeboat.Status.table(held).contains("Lease:"))
    }

    @Test func aMonitorThatHasSeenNothingYetWarnsOfNothing() {
        let starting = Lifeboat.Status.table(view([node("pg-a", role: "unknown", reachable: false), node("pg-b", role: "unknown", reachable: false)],
                                                  state: "discovering"))
        #expect(!starting.contains("WARNING"), "\(starting)")
        let follower = Lifeboat.Status.table(view([node("pg-a", role: "unknown", reachable: false), node("pg-b", role: "unknown", reachable: false)],
                                                  state: "following"))
        #expect(!follower.contains("WARNING"), "a following monitor probes nothing: \(follower)")
        var named = view([], state: "following")
        named.monitors = StatusView.Monitors(me: "monitor-b", leader: "monitor-a", leaderAPI: "http://10.0.1.5:8547", leading: false)
        #expect(Lifeboat.Status.table(named).contains("Monitors: monitor-b follows; monitor-a leads, ask it: lifeboat status --api http://10.0.1.5:8547"))
        named.monitors = StatusView.Monitors(me: "monitor-a", leader: "monitor-a", leaderAPI: nil, leading: true)
        #expect(Lifeboat.Status.table(named).contains("Monitors: monitor-a leads"))
    }

    @Test func repeatsFoldIntoOneLineWithTheirCountAndSpan() {
        func event(_ seq: Int64, _ message: String, at second: Int) -> EventView {
            EventView(seq: seq, at: String(format: "2026-12-03T10:%02d:%02d.000Z", second / 60, second % 60), epoch: 2, kind: "decision",
                      step: nil, node: nil, message: message)
        }
        let events = [event(1, "primary pg-a is down", at: 0)] + (2...301).map { event(Int64($0), "failover vetoed: pg-b still streams", at: Int($0) * 80 / 300) }
            + [event(302, "primary pg-a is healthy again", at: 81)]
        let runs = Lifeboat.Events.fold(events)
        #expect(runs.map(\.count) == [1, 300, 1])
        let lines = Lifeboat.Events.lines(runs)
        #expect(lines[1].hasSuffix("failover vetoed: pg-b still streams  ×300 over 80s (to #301)"), "\(lines[1])")
        #expect(!lines[0].contains("×") && !lines[2].contains("×"))
    }

    @Test func pgHBALinesAdmitReplicationOnlyWhenTheyNameIt() {
        func rule(_ databases: [String], _ address: String?, _ netmask: String? = nil, type: String = "hostssl") -> NodeFacts.HBARule {
            NodeFacts.HBARule(line: 1, type: type, databases: databases, users: ["replicator"], address: address, netmask: netmask, error: nil)
        }
        let peer = IPv4("10.0.2.10")!
        #expect(rule(["replication"], "10.0.2.0", "255.255.255.0").admitsReplication(from: peer))
        #expect(rule(["replication"], "10.0.2.10", "255.255.255.255").admitsReplication(from: peer))
        #expect(!rule(["replication"], "10.0.1.0", "255.255.255.0").admitsReplication(from: peer))
        #expect(!rule(["all"], "10.0.2.0", "255.255.255.0").admitsReplication(from: peer), "all does not cover replication")
        #expect(!rule(["replication"], nil, type: "local").admitsReplication(from: peer))
        #expect(rule(["replication"], "all").admitsReplication(from: peer))
        #expect(rule(["replication"], "db-ams.internal").admitsReplication(from: peer), "a host name is not second-guessed")
        var facts = NodeFacts(node: "pg-fra")
        facts.reachable = true
        facts.hbaRules = [rule(["all"], "10.0.0.0", "255.0.0.0")]
        let findings = Doctor.findings([facts], context: .init(nodeCount: 2, leaseInUse: true, hosts: ["pg-fra": "10.0.1.10", "pg-ams": "10.0.2.10"]))
        #expect(findings.map(\.subject) == ["pg_hba.conf"])
        #expect(findings.first?.fix == "add to pg_hba.conf: hostssl replication <replication user> 10.0.2.10/32 scram-sha-256; then SELECT pg_reload_conf();")
    }

    @Test func doctorChecksManagedSlotsAndPgRewindGrants() {
        var primary = NodeFacts(node: "pg-fra")
        primary.reachable = true
        primary.inRecovery = false
        primary.settings["max_slot_wal_keep_size"] = .init(value: "-1", unit: "MB")
        primary.replicationSlots = [.init(name: "lifeboat_pg_ams", active: false), .init(name: "barman", active: false)]
        primary.rewindGrantsMissing = ["replicator": ["pg_read_binary_file(text)", "pg_checkpoint"]]
        var standby = NodeFacts(node: "pg-ams")
        standby.reachable = true
        standby.inRecovery = true
        standby.settings["primary_slot_name"] = .init(value: "")
        let hosts = ["pg-fra": "10.0.1.10", "pg-ams": "10.0.2.10"]
        let managed = Doctor.findings([primary, standby], context: .init(nodeCount: 2, leaseInUse: true, hosts: hosts, slotsManaged: true))
        let by = { (subject: String) in managed.filter { $0.subject == subject } }
        #expect(by("replication slot").map(\.fix) == ["lifeboat rejoin pg-ams  (or, if pg-ams is gone for good, remove it from lifeboat.yml: the monitor then drops its slot)",
                                                      "if its standby is gone for good: SELECT pg_drop_replication_slot('barman');"])
        #expect(by("primary_slot_name").map(\.node) == ["pg-ams"])
        #expect(by("primary_slot_name").first?.fix.hasPrefix("ALTER SYSTEM SET primary_slot_name = 'lifeboat_pg_ams';") == true)
        #expect(by("max_slot_wal_keep_size").map(\.node) == ["pg-fra"])
        #expect(by("pg_rewind").first?.fix == "GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO replicator; GRANT pg_checkpoint TO replicator;")
        #expect(by("pg_rewind").first?.problem.contains("replicator can stream but pg_rewind with it would fail") == true)
        #expect(managed.allSatisfy { $0.severity == .warning })
        // Unmanaged: no slot advice of Lifeboat's own.
        let unmanaged = Doctor.findings([primary, standby], context: .init(nodeCount: 2, leaseInUse: true, hosts: hosts))
        #expect(unmanaged.filter { ["primary_slot_name", "max_slot_wal_keep_size"].contains($0.subject) }.isEmpty)
        #expect(unmanaged.filter { $0.subject == "replication slot" }.count == 2)
    }

    @Test func theAPIAddressComesFromTheListenAddressAndTLS() {
        #expect(APIOptions.url(listen: HostPort(host: "0.0.0.0", port: 8547), tls: false) == "http://127.0.0.1:8547")
        #expect(APIOptions.url(listen: HostPort(host: "10.0.1.5", port: 9000), tls: true) == "https://10.0.1.5:9000")
    }
}
