import Foundation
import LifeboatCore
import LifeboatDNS
import LifeboatEngine
import LifeboatPorts
import LifeboatPostgres
import LifeboatSandbox
import LifeboatTestSupport
import Testing

@Suite(.serialized) struct DrillTests {
    /// Two drills at once on this machine (as a drill next to a test suite would): each in its own
    /// loopback block, neither disturbs the other.
    @Test func twoSandboxDrillsAtOnceEachFailOverOnceAndMeasureRTOAndRPO() async throws {
        async let first = SandboxDrill(logger: testLogger()).run()
        async let second = SandboxDrill(logger: testLogger()).run()
        let (report, other) = try await (first, second)
        #expect(other.passed, "\(other.problems)")
        #expect(other.promotions == 1 && other.epoch == 1)
        let blocks = [report, other].map { $0.nodes[0].address.split(separator: ".").prefix(3).joined(separator: ".") }
        #expect(blocks[0] != blocks[1], "the drills shared addresses: \(blocks)")
        #expect(report.passed, "\(report.problems)")
        #expect(report.promotions == 1)
        #expect(report.epoch == 1)
        #expect(report.newPrimary == "pg-eu-west")
        let rto = try #require(report.rtoSeconds)
        #expect(rto > 0)
        // Every acknowledged write after the fault went to the new primary; the lost ones (if
        // any) were acknowledged by the old primary before the fault.
        #expect(report.rpoLostWrites <= report.writesBeforeFault)
        // A write acknowledged in the instant the kill was delivered counts as lost at 0 s.
        #expect(report.rpoLostWrites == 0 ? report.rpoSeconds == 0 : report.rpoSeconds >= 0)
        #expect(report.rpoSeconds < 2, "asynchronous replication loses at most the last moments before the fault")
        // Files follow the primary: us-east -> eu-west before the fault, eu-west -> us-east after it.
        let files = try #require(report.files)
        #expect(files.beforeFault.map { "\($0.from)->\($0.to)@\($0.epoch)" } == ["us-east->eu-west@0"])
        #expect(files.afterFailover.map { "\($0.from)->\($0.to)@\($0.epoch)" } == ["eu-west->us-east@1"])
        #expect((files.beforeFault + files.afterFailover).allSatisfy { $0.seconds != nil })
        #expect(report.text.contains("after the failover: after-failover.txt written in eu-west, arrived after"))
        let events = report.timeline.map(\.event)
        for expected in ["fault", "detected", "decided", "epoch", "fenced", "promoted", "writable", "dns", "complete", "write"] {
            #expect(events.contains(expected), "timeline lacks \(expected): \(events)")
        }
        // The timeline is in order and the decision explains itself.
        #expect(report.timeline.map(\.at) == report.timeline.map(\.at).sorted())
        let decision = try #require(report.timeline.first { $0.event == "decided" })
        // The primary's agent saw its PostgreSQL die and gave the lease up: that corroborates at once.
        #expect(decision.detail.contains("its agent released its lease (its PostgreSQL is down)"), "\(decision.detail)")
        #expect(report.text.contains("RTO  "))
        // Clients found the new primary through the real DNS server.
        let dnsNotes = report.timeline.filter { $0.event == "dns" }.map(\.detail)
        let addresses = report.nodes.map { $0.address.split(separator: ":")[0] }
        #expect(dnsNotes.first == "DNS switched: app.lifeboat.sandbox. from \(addresses[0]) to \(addresses[1]), TTL 0s")
        // Each drill has loopback addresses of its own: never the 127.0.0.0/16 other programs use.
        #expect(addresses.allSatisfy { !$0.hasPrefix("127.0.") }, "\(addresses)")
        #expect(dnsNotes.last?.hasPrefix("DNS verified: 1 authoritative server answers the new targets") == true)
        #expect(report.trafficSwitchSeconds != nil)
        let json = try JSONEncoder().encode(report)
        #expect(String(decoding: json, as: UTF8.self).contains("\"rtoSeconds\""))
    }
}

/// The engine against a real pair, with the monitor's path to the primary through a proxy that
/// the test can cut while the primary itself stays up.
@Suite(.serialized) struct EngineCorroborationTests {
    /// An engine watching `cluster`, its path to the primary through a proxy the test controls.
    static func engineBehindProxy(_ cluster: SandboxCluster) throws -> (TCPProxy, Engine<ContinuousClock>) {
        let proxy = try TCPProxy(port: try FreePort.find(), forwardingTo: cluster.primary.address, port: cluster.primary.port)
        var configs = cluster.nodes.map(\.config)
        configs[0].host = "127.0.0.1"
        configs[0].port = proxy.port
        let fleet = try PostgresFleet(nodes: configs, logger: testLogger())
        let engine = Engine(topology: cluster.topology, detection: .default, policy: .default, fleet: fleet,
                            epochStore: InMemoryEpochStore(), clock: ContinuousClock(), logger: testLogger())
        return (proxy, engine)
    }

    @Test func aStandbyStillStreamingVetoesFailoverWhenOnlyTheMonitorsPathBreaks() async throws {
        try await withSandboxCluster { cluster in
            let (proxy, engine) = try Self.engineBehindProxy(cluster)
            let task = Task { try await engine.run() }
            defer { task.cancel() }
            let primary = cluster.primary.name

            try await waitFor("monitoring") { await engine.state == .monitoring(primary: primary) }
            try await waitFor("standby seen streaming") { await engine.health["pg-eu-west"]?.currentStatus?.isStreaming == true }

            proxy.cutPath()
            try await waitFor("veto") {
                engine.journal.entries.contains { $0.message.hasPrefix("failover vetoed: standby pg-eu-west still streams WAL") }
            }
            // Nothing is promoted while the standby streams, however many rounds of probes pass.
            let probes = await engine.probeCount
            try await waitFor("ten more probes") { await engine.probeCount >= probes + 10 }
            if case .confirming = await engine.state {} else { Issue.record("expected confirming, got \(await engine.state)") }
            #expect(await engine.epoch == .initial)
            #expect(!engine.journal.entries.contains { if case .stepStarted = $0.kind { return true } else { return false } })
            #expect(try await cluster.psql(cluster.standbys[0], "SELECT pg_is_in_recovery()").hasPrefix("t"))

            try proxy.restorePath()
            try await waitFor("recovered") { await engine.state == .monitoring(primary: primary) }
            #expect(engine.journal.entries.last { if case .transition = $0.kind { return true } else { return false } }?.message
                == "primary \(primary) answers probes again; no failover")
        }
    }

    /// A lost region drops packets rather than refusing connections. The old primary already
    /// failed its probes, so fencing it must not wait the whole step timeout (10 s).
    @Test func aBlackHoledPrimaryIsNotWaitedForWhenFencing() async throws {
        try await withSandboxCluster { cluster in
            let (proxy, engine) = try Self.engineBehindProxy(cluster)
            let task = Task { try await engine.run() }
            defer { task.cancel() }
            try await waitFor("monitoring") { await engine.state == .monitoring(primary: cluster.primary.name) }
            try await waitFor("standby seen streaming") { await engine.health["pg-eu-west"]?.currentStatus?.isStreaming == true }

            // The region goes dark: the server dies (the standby loses its stream) and the
            // monitor's path swallows every packet.
            proxy.blackHole()
            _ = try await cluster.kill(cluster.primary)
            try await waitFor("failover complete", timeout: .seconds(30)) { await engine.state == .monitoring(primary: "pg-eu-west") }
            let entries = engine.journal.entries
            let fenceStarted = try #require(entries.first { if case .stepStarted(.fence, _) = $0.kind { return true } else { return false } })
            let fenceDone = try #require(entries.first { if case .stepSucceeded(.fence, _) = $0.kind { return true } else { return false } })
            #expect(fenceDone.message.contains("unreachable"), "\(fenceDone.message)")
            // Bounded by the detection timeout (1 s), far from the 10 s step timeout.
            #expect(fenceStarted.at.duration(to: fenceDone.at) < .seconds(5), "\(fenceStarted.at.duration(to: fenceDone.at))")
        }
    }

    @Test func operatorFailoverFencesTheLivePrimaryAndPromotes() async throws {
        try await withSandboxCluster { cluster in
            let fleet = try PostgresFleet(nodes: cluster.nodes.map(\.config), logger: testLogger())
            let engine = Engine(topology: cluster.topology, detection: .default, policy: .default, fleet: fleet,
                                epochStore: InMemoryEpochStore(), clock: ContinuousClock(), logger: testLogger())
            let task = Task { try await engine.run() }
            defer { task.cancel() }
            try await waitFor("monitoring") { await engine.state == .monitoring(primary: cluster.primary.name) }
            try await waitFor("standby healthy") { await engine.health["pg-eu-west"]?.verdict == .healthy }

            let reply = await engine.submit(.operatorFailover(to: "pg-eu-west", by: "test"))
            guard case .outcome(.started(let plan)) = reply else { Issue.record("not started: \(reply)"); return }
            #expect(plan.candidate == "pg-eu-west" && plan.epoch == Epoch(1))
            try await waitFor("failover done") { await engine.state == .monitoring(primary: "pg-eu-west") }
            #expect(await engine.epoch == Epoch(1))
            // The old primary is alive but refuses writes; the new one takes them.
            #expect(try await cluster.psql(cluster.primary, "SHOW default_transaction_read_only").hasPrefix("on"))
            await #expect(throws: CommandError.self) { try await cluster.psql(cluster.primary, "CREATE TABLE x (id int)") }
            try await cluster.psql(cluster.standbys[0], "CREATE TABLE x (id int)")
            // Watching the fenced old primary for rounds of probes never flips roles back.
            let probes = await engine.probeCount
            try await waitFor("ten more probes") { await engine.probeCount >= probes + 10 }
            #expect(await engine.state == .monitoring(primary: "pg-eu-west"))
            let promotions = engine.journal.entries.filter { if case .stepSucceeded(.promote, _) = $0.kind { return true } else { return false } }
            #expect(promotions.count == 1)
        }
    }
}

/// A failover whose traffic switch keeps failing (the DNS server rejects the TSIG key): the
/// promotion stands, the state says so, and an alert is raised.
@Suite(.serialized) struct TrafficNotSwitchedTests {
    @Test func aRejectedDNSUpdateLeavesThePromotionStanding() async throws {
        try await withSandboxCluster { cluster in
            let knot = try KnotServer(zone: "lifeboat.sandbox", records: ["app 0 IN A \(cluster.primary.address)"])
            defer { knot.stop() }
            try await knot.waitUntilServing()
            let zone = try DNSName("lifeboat.sandbox"), record = try DNSName("app.lifeboat.sandbox")
            let server = DNSServer(host: "127.0.0.1", port: knot.port)
            let wrongKey = try TSIGKey(name: knot.keyName, secretBase64: Data(repeating: 9, count: 32).base64EncodedString())
            let traffic = DNSTrafficSwitch(
                provider: RFC2136Provider(client: RFC2136Client(server: server, zone: zone, key: wrongKey), record: record),
                targets: Dictionary(uniqueKeysWithValues: cluster.nodes.map { ($0.region, [IPv4($0.address)!]) }),
                ttl: 0, verifiers: [AuthoritativeServer(server: server, zone: zone, record: record)]
            )
            let fleet = try PostgresFleet(nodes: cluster.nodes.map(\.config), logger: testLogger())
            let engine = Engine(topology: cluster.topology, detection: .default,
                                policy: FailoverPolicy(stepAttempts: 2, retryDelay: .milliseconds(50)), fleet: fleet,
                                epochStore: InMemoryEpochStore(), traffic: traffic, clock: ContinuousClock(), logger: testLogger())
            let task = Task { try await engine.run() }
            defer { task.cancel() }
            try await waitFor("monitoring") { await engine.state == .monitoring(primary: cluster.primary.name) }
            try await waitFor("standby streaming") { await engine.health["pg-eu-west"]?.currentStatus?.isStreaming == true }

            _ = try await cluster.kill(cluster.primary)
            try await waitFor("traffic not switched") {
                if case .trafficNotSwitched = await engine.state { return true } else { return false }
            }
            #expect(await engine.state.primary == "pg-eu-west")
            #expect(await engine.epoch == Epoch(1))
            let alerts = engine.journal.entries.filter { if case .alert(.critical) = $0.kind { return true } else { return false } }.map(\.message)
            #expect(alerts.contains { $0.hasPrefix("promoted pg-eu-west but traffic not switched: BADSIG") }, "\(alerts)")
            // The new primary takes writes; the record still points at the dead region.
            try await cluster.psql(cluster.standbys[0], "CREATE TABLE after_failover (id int)")
            #expect(try knot.kdig("app.lifeboat.sandbox", "A") == cluster.primary.address)
            let promotions = engine.journal.entries.filter { if case .stepSucceeded(.promote, _) = $0.kind { return true } else { return false } }
            #expect(promotions.count == 1)
        }
    }
}

@Suite(.serialized) struct SwitchoverDrillTests {
    /// Two switchovers in a row on a real pair: the old primary of each rejoins on its own
    /// (failover.rejoin: switchover), no acknowledged write is lost in either, and the cluster ends
    /// where it began with a streaming standby.
    @Test func twoSwitchoversInARowLoseNoWriteAndEndWhereTheyBegan() async throws {
        var drill = SandboxDrill(scenario: SwitchoverScenario(), logger: testLogger())
        drill.failback = true
        let report = try await drill.run()
        #expect(report.scenario == "switchover")
        #expect(report.passed, "\(report.problems)")
        #expect(report.rpoLostWrites == 0)
        #expect(report.promotions == 1)
        #expect(report.newPrimary == "pg-eu-west")
        let events = report.timeline.map(\.event)
        #expect(events.contains("fenced") && events.contains("caught-up") && events.contains("promoted"))
        let caughtUp = try #require(report.timeline.first { $0.event == "caught-up" })
        let fenced = try #require(report.timeline.first { $0.event == "fenced" })
        #expect(caughtUp.at >= fenced.at, "promotion waits for the fenced primary's last WAL")

        let failback = try #require(report.failback)
        #expect(failback.rejoinSeconds != nil, "the first switchover's old primary streams again")
        #expect(failback.writesDuringSwitchback >= 50)
        #expect(failback.lostInSwitchback == 0)
        #expect(failback.endPrimary == "pg-us-east")
        #expect(failback.endStreaming == ["pg-eu-west"])
        let rewind = try #require(report.rewind)
        #expect(rewind.discarded?.transactions ?? 0 == 0, "a switchover's old primary had nothing the new one lacked: \(String(describing: rewind.discarded))")
        // A clean demote: the old primary was stopped (its shutdown checkpoint streamed) before the
        // promotion, so it follows the new primary without pg_rewind, in both directions.
        #expect(rewind.method == .noRewindNeeded, "\(rewind.method): \(rewind.detail)")
        #expect(failback.rejoinMethod == "no-rewind-needed")
        #expect(report.timeline.first { $0.event == "caught-up" }?.detail.contains("stopped cleanly by its agent") == true,
                "\(report.timeline.map { "\($0.event): \($0.detail)" })")
    }
}

@Suite(.serialized) struct DurabilityDrillTests {
    /// durability: sync under four writers without pause: the killed primary's acknowledged writes
    /// are all on the new primary (Benchmarks/durability.sh runs it five times, with async beside).
    @Test func withSyncAKilledPrimaryLosesNoAcknowledgedWrite() async throws {
        var policy = FailoverPolicy.default
        policy.durability = DurabilityPolicy(mode: .sync, whenShort: .async)
        var drill = SandboxDrill(policy: policy, logger: testLogger())
        drill.writers = 4
        let report = try await drill.run()
        #expect(report.passed, "\(report.problems)")
        #expect(report.rpoLostWrites == 0)
        #expect(report.durability == "sync (when_short: async)")
        #expect(report.writers == 4)
        #expect((report.writesPerSecond ?? 0) > 0)
        #expect(report.writesAcknowledged > report.writesBeforeFault)
    }
}

@Suite(.serialized) struct FailbackDrillTests {
    /// `lifeboat drill --sandbox --failback`: kill, fail over, rejoin the old primary with
    /// pg_rewind, switch over back.
    @Test func aKilledPrimaryIsRewoundAndBecomesPrimaryAgain() async throws {
        var drill = SandboxDrill(logger: testLogger())
        drill.failback = true
        let report = try await drill.run()
        #expect(report.passed, "\(report.problems)")
        let failback = try #require(report.failback)
        #expect(failback.rejoinMethod == "rewind")
        #expect(failback.lostInSwitchback == 0)
        #expect(failback.endPrimary == "pg-us-east")
        #expect(failback.endStreaming == ["pg-eu-west"])
        let discarded = try #require(report.rewind?.discarded)
        #expect(LSN(discarded.to)! >= LSN(discarded.from)!)
        #expect(discarded.transactions != nil)
        #expect(report.rewind?.phases.map(\.name).contains("recover") == true, "a killed primary finishes crash recovery before the rewind")
    }
}
