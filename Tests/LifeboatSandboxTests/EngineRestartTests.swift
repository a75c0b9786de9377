import Foundation
import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatPostgres
import LifeboatSandbox
import LifeboatStore
import LifeboatTestSupport
import Testing

/// A monitor restarted while it holds a failover back must keep holding it back: the facts the
/// guard rail rests on (the primary's last WAL position) are in its saved state.
@Suite(.serialized) struct EngineRestartTests {
    func engine(_ cluster: SandboxCluster, store: SQLiteStateStore) throws -> Engine<ContinuousClock> {
        Engine(topology: cluster.topology, detection: .default, policy: .default,
               fleet: try PostgresFleet(nodes: cluster.nodes.map(\.config), logger: testLogger()), epochStore: store,
               clock: ContinuousClock(), logger: testLogger(), stateStore: store, owner: try store.monitorID())
    }

    func holdingOverTheLagLimit(_ engine: Engine<ContinuousClock>) async -> Bool {
        guard case .holding(_, let blocker) = await engine.state else { return false }
        return blocker.hasPrefix("every candidate is over the lag limit")
    }

    @Test func aMonitorRestartedWhileHoldingOverTheLagLimitKeepsHolding() async throws {
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-restart-\(UUID())")
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("state.db").path
            let primary = cluster.primary, standby = cluster.standbys[0]

            let first = try engine(cluster, store: try SQLiteStateStore(path: path))
            let firstRun = Task { try await first.run() }
            try await waitFor("monitoring") { await first.state == .monitoring(primary: primary.name) }
            try await waitFor("standby streaming") { await first.health[standby.name]?.currentStatus?.isStreaming == true }

            // The standby stops receiving (its upstream now points nowhere), then the primary
            // commits a 150,000-row table: some 40 MB of WAL the standby never gets.
            try await cluster.psql(standby, "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=postgres'")
            try await cluster.psql(standby, "SELECT pg_reload_conf()")
            try await waitFor("standby lost its stream") { await first.health[standby.name]?.currentStatus?.isStreaming == false }
            try await cluster.psql(primary, "CREATE TABLE committed_big AS SELECT g, repeat('x', 250) AS pad FROM generate_series(1, 150000) g")
            let committed = try #require(LSN(try await cluster.psql(primary, "SELECT pg_current_wal_lsn()").trimmingCharacters(in: .whitespacesAndNewlines)))
            try await waitFor("the monitor saw the primary's position") { (await first.lastPrimaryLSN ?? LSN(0)) >= committed }
            let standbyLSN = try #require(await first.health[standby.name]?.lastStatus?.durableLSN)
            #expect(committed.bytes(after: standbyLSN) > 16 * 1024 * 1024, "the standby is over max_lag_bytes behind")

            _ = try await cluster.kill(primary)
            try await waitFor("holding: over the lag limit") { await holdingOverTheLagLimit(first) }
            firstRun.cancel()
            _ = try? await firstRun.value

            // A new monitor process on the same state file.
            let second = try engine(cluster, store: try SQLiteStateStore(path: path))
            let secondRun = Task { try await second.run() }
            defer { secondRun.cancel() }
            try await waitFor("holding again after the restart") { await holdingOverTheLagLimit(second) }
            #expect(await second.lastPrimaryLSN == (await first.lastPrimaryLSN), "the primary's last position survived the restart")
            let probes = await second.probeCount
            try await waitFor("twenty more probes") { await second.probeCount >= probes + 20 }
            #expect(await holdingOverTheLagLimit(second))
            let started = second.journal.entries.filter { if case .stepStarted = $0.kind { return true } else { return false } }
            #expect(started.isEmpty, "nothing was started: \(started.map(\.message))")
            #expect(try await cluster.psql(standby, "SELECT pg_is_in_recovery()").hasPrefix("t"), "the lagging standby was not promoted")
            #expect(try await cluster.psql(standby, "SELECT to_regclass('committed_big') IS NULL").hasPrefix("t"),
                    "promoting it would have lost the committed table")
        }
    }
}
