import Foundation
import LifeboatAgentAPI
import LifeboatCore
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// `rejoin` on a node's agent, against a real pair: a former primary that kept taking writes after
/// the standby was promoted comes back as a streaming standby of the new primary, with its own
/// settings, and the report names what only it had.
@Suite(.serialized) struct RejoinTests {
    @Test func aFormerPrimaryIsRewoundAndStreamsFromTheNewPrimary() async throws {
        try await withSandboxCluster { cluster in
            let old = cluster.primary, new = cluster.standbys[0]
            let agents = try SandboxAgents(cluster: cluster, logger: testLogger())
            try await agents.start(logger: testLogger())
            defer { Task { await agents.stop() } }

            try await cluster.psql(old, "CREATE TABLE rejoin_probe (id int, origin text)")
            try await cluster.psql(old, "INSERT INTO rejoin_probe VALUES (1, 'before the fork')")
            try await waitFor("the standby has the row") {
                (try? await cluster.psql(new, "SELECT count(*) FROM rejoin_probe").trimmingCharacters(in: .whitespacesAndNewlines)) == "1"
            }
            // The standby is promoted on its own; the old primary keeps taking writes (three
            // separate transactions), then dies.
            try await cluster.psql(new, "SELECT pg_promote()")
            try await waitFor("the new primary takes writes") {
                (try? await cluster.psql(new, "SELECT pg_is_in_recovery()"))?.hasPrefix("f") == true
            }
            for id in 2...4 { try await cluster.psql(old, "INSERT INTO rejoin_probe VALUES (\(id), 'only on the old primary')") }
            try await cluster.psql(new, "INSERT INTO rejoin_probe VALUES (10, 'on the new primary')")
            _ = try await cluster.kill(old)

            let client = AgentClient(baseURL: agents.urls[old.name]!, node: old.name, key: agents.key)
            let order = RejoinOrder(epoch: 1, primary: new.name, host: new.address, port: new.port, reinit: .never)
            let report = try await client.rejoin(order, timeout: .seconds(120))

            #expect(report.method == .rewind)
            #expect(report.streaming)
            let discarded = try #require(report.discarded)
            #expect(discarded.transactions == 3, "three commits existed only on the old primary: \(discarded)")
            #expect(discarded.transactionIds.count == 3)
            #expect(LSN(discarded.to)! > LSN(discarded.from)!)
            #expect(discarded.bytes == LSN(discarded.to)!.bytes(after: LSN(discarded.from)!))
            #expect(report.phases.map(\.name).contains("recover"), "a killed primary finishes crash recovery first: \(report.phases.map(\.name))")
            #expect(report.summary.contains("3 transactions only the old timeline had"))

            // It is a standby of the new primary, on its own address and socket, with the new data.
            #expect(try await cluster.psql(old, "SELECT pg_is_in_recovery()").hasPrefix("t"))
            #expect(try await cluster.psql(old, "SHOW listen_addresses").trimmingCharacters(in: .whitespacesAndNewlines) == old.address)
            #expect(try await cluster.psql(old, "SHOW cluster_name").trimmingCharacters(in: .whitespacesAndNewlines) == old.region)
            try await waitFor("the new primary's row replayed") {
                (try? await cluster.psql(old, "SELECT string_agg(id::text, ',' ORDER BY id) FROM rejoin_probe").trimmingCharacters(in: .whitespacesAndNewlines)) == "1,10"
            }
            let streaming = try await cluster.psql(new, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
            #expect(streaming.trimmingCharacters(in: .whitespacesAndNewlines) == old.name)

            // Asked again: already a streaming standby, nothing done.
            let again = try await client.rejoin(RejoinOrder(epoch: 1, primary: new.name, host: new.address, port: new.port, reinit: .never),
                                                timeout: .seconds(60))
            #expect(again.method == .alreadyStreaming)

            // A stale epoch, and the primary asked to rejoin itself, are refused before anything runs.
            await #expect(throws: RejoinFailure.self) {
                _ = try await client.rejoin(RejoinOrder(epoch: 0, primary: new.name, host: new.address, port: new.port, reinit: .never), timeout: .seconds(10))
            }
            let newClient = AgentClient(baseURL: agents.urls[new.name]!, node: new.name, key: agents.key)
            do {
                _ = try await newClient.rejoin(RejoinOrder(epoch: 1, primary: new.name, host: new.address, port: new.port, reinit: .never), timeout: .seconds(10))
                Issue.record("the primary rejoined itself")
            } catch let failure as RejoinFailure {
                #expect(failure.step == "check")
            }
            #expect(try await cluster.psql(new, "SELECT pg_is_in_recovery()").hasPrefix("f"), "the primary still runs")
        }
    }

    @Test func reinitClonesAFreshCopyAndKeepsTheNodesOwnSettings() async throws {
        try await withSandboxCluster { cluster in
            let primary = cluster.primary, standby = cluster.standbys[0]
            let agents = try SandboxAgents(cluster: cluster, logger: testLogger())
            try await agents.start(logger: testLogger())
            defer { Task { await agents.stop() } }
            try await cluster.psql(primary, "CREATE TABLE reinit_probe (id int); INSERT INTO reinit_probe VALUES (7)")
            let client = AgentClient(baseURL: agents.urls[standby.name]!, node: standby.name, key: agents.key)
            let slot = ReplicationSlots.name(for: standby.name)
            let report = try await client.rejoin(RejoinOrder(epoch: 0, primary: primary.name, host: primary.address, port: primary.port, reinit: .always,
                                                             slot: slot), timeout: .seconds(120))
            #expect(report.method == .reinit)
            #expect(report.streaming)
            #expect(report.phases.map(\.name).contains("base-backup"))
            #expect(try await cluster.psql(standby, "SHOW listen_addresses").trimmingCharacters(in: .whitespacesAndNewlines) == standby.address)
            #expect(try await cluster.psql(standby, "SELECT id FROM reinit_probe").trimmingCharacters(in: .whitespacesAndNewlines) == "7")
            // It streams through the slot the order named.
            #expect(try await cluster.psql(standby, "SHOW primary_slot_name").trimmingCharacters(in: .whitespacesAndNewlines) == slot)
            try await waitFor("the slot in use") {
                (try? await cluster.psql(primary, "SELECT active FROM pg_replication_slots WHERE slot_name = '\(slot)'"))?.hasPrefix("t") == true
            }
            // A slot name PostgreSQL would not take is refused before anything runs.
            await #expect(throws: RejoinFailure.self) {
                _ = try await client.rejoin(RejoinOrder(epoch: 0, primary: primary.name, host: primary.address, port: primary.port, reinit: .never,
                                                        slot: "x'; DROP"), timeout: .seconds(10))
            }
        }
    }

    /// A switchover's clean demote: the fenced old primary's agent stops it; its shutdown
    /// checkpoint reaches the standby before it exits, so after the promotion it follows the new
    /// primary without pg_rewind (nothing of its own to discard).
    @Test func aCleanlyDemotedPrimaryRejoinsWithoutARewind() async throws {
        try await withSandboxCluster { cluster in
            let old = cluster.primary, new = cluster.standbys[0]
            let agents = try SandboxAgents(cluster: cluster, logger: testLogger())
            try await agents.start(logger: testLogger())
            defer { Task { await agents.stop() } }
            try await cluster.psql(old, "CREATE TABLE demote_probe (id int); INSERT INTO demote_probe VALUES (1)")
            let client = AgentClient(baseURL: agents.urls[old.name]!, node: old.name, key: agents.key)
            let demoted = try await client.demote(epoch: Epoch(3), timeout: .seconds(60))
            let end = try #require(demoted.checkpointLSN, "\(demoted)")
            #expect(demoted.timeline == 1)
            #expect(demoted.detail.contains("stopped"))
            try await waitFor("the standby replays the shutdown checkpoint") {
                (try? await cluster.psql(new, "SELECT pg_last_wal_replay_lsn()")).flatMap { LSN($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map { $0 > end } == true
            }
            // Asked again (a retried step, a restarted monitor): the same answer from the control file.
            let again = try await client.demote(epoch: Epoch(3), timeout: .seconds(60))
            #expect(again.checkpoint == demoted.checkpoint)
            #expect(again.detail.contains("was not running"))
            // An older epoch is refused.
            do {
                _ = try await client.demote(epoch: Epoch(2), timeout: .seconds(10))
                Issue.record("a stale demote was obeyed")
            } catch let failure as AgentClient.Failure {
                #expect(failure.status == 409, "\(failure)")
            }

            try await cluster.psql(new, "SELECT pg_promote()")
            try await cluster.psql(new, "INSERT INTO demote_probe VALUES (2)")
            let report = try await client.rejoin(RejoinOrder(epoch: 3, primary: new.name, host: new.address, port: new.port, reinit: .never),
                                                 timeout: .seconds(120))
            #expect(report.method == .noRewindNeeded, "\(report.method): \(report.detail)")
            #expect(report.streaming)
            try await waitFor("the new primary's row on the old primary") {
                (try? await cluster.psql(old, "SELECT string_agg(id::text, ',' ORDER BY id) FROM demote_probe").trimmingCharacters(in: .whitespacesAndNewlines)) == "1,2"
            }
        }
    }
}
