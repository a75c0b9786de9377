import Foundation
import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatPostgres
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// A standby whose history forked from the primary's — it was promoted on its own once (or
/// restored from an old backup) and made a standby again — can look healthy with 0 lag. It must
/// never be promoted: its data is not a prefix of the primary's.
@Suite(.serialized) struct ForkedTimelineTests {
    @Test func aStandbyOnAForkedTimelineIsFlaggedAndNeverPromoted() async throws {
        try await withSandboxCluster { cluster in
            let primary = cluster.primary, forked = cluster.standbys[0]
            // The standby goes its own way (timeline 2) and takes a write the primary never sees,
            // then is made a standby of the primary again.
            try await cluster.psql(forked, "SELECT pg_promote()")
            try await cluster.psql(forked, "CREATE TABLE only_on_the_fork (id int)")
            try await cluster.restartAsStandby(forked)
            #expect(try await cluster.psql(forked, "SELECT pg_is_in_recovery()").hasPrefix("t"))

            let engine = Engine(topology: cluster.topology, detection: .default, policy: .default,
                                fleet: try PostgresFleet(nodes: cluster.nodes.map(\.config), logger: testLogger()),
                                epochStore: InMemoryEpochStore(), clock: ContinuousClock(), logger: testLogger())
            let task = Task { try await engine.run() }
            defer { task.cancel() }
            try await waitFor("monitoring") { await engine.state == .monitoring(primary: primary.name) }
            try await waitFor("both timelines known") {
                let forkedTimeline = await engine.health[forked.name]?.currentStatus?.timeline
                return await engine.lastPrimaryTimeline != nil && forkedTimeline != nil
            }
            #expect(await engine.lastPrimaryTimeline == 1)
            #expect(await engine.health[forked.name]?.currentStatus?.timeline == 2)

            // An operator cannot promote it either; the dry run says why.
            let forkedWhy = Ineligibility.forked(timeline: 2, primaryTimeline: 1)
            #expect(await engine.preview(.operatorFailover(to: forked.name, by: "ops")) == .refused(.ineligible(node: forked.name, forkedWhy)))

            _ = try await cluster.kill(primary)
            try await waitFor("holding: no eligible standby") {
                guard case .holding(_, let blocker) = await engine.state else { return false }
                return blocker.hasPrefix("no eligible standby")
            }
            let probes = await engine.probeCount
            try await waitFor("ten more probes") { await engine.probeCount >= probes + 10 }
            if case .holding = await engine.state {} else { Issue.record("left holding: \(await engine.state)") }
            #expect(await engine.submit(.operatorFailover(to: forked.name, by: "ops")) == .outcome(.refused(.ineligible(node: forked.name, forkedWhy))))
            #expect(!engine.journal.entries.contains { if case .stepStarted(.promote, _) = $0.kind { return true } else { return false } })
            #expect(try await cluster.psql(forked, "SELECT pg_is_in_recovery()").hasPrefix("t"), "the forked standby was not promoted")
        }
    }
}
