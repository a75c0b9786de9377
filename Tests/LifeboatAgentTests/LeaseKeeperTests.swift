import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatSandbox
import LifeboatTestSupport
import Synchronization
import Testing

/// The primary's agent and its lease, against a real PostgreSQL and a stand-in monitor that
/// grants, then goes silent, refuses, or receives a release.
@Suite(.serialized) struct LeaseKeeperTests {
    /// A monitor that grants 4 s leases until told otherwise, recording when each request arrived.
    final class Grantor: Sendable {
        enum Mode { case grant, silent, refuseNotPrimary, noPrimaryYet }
        let asked = Mutex(0)
        let mode = Mutex(Mode.grant)
        let lastGrantReceived = Mutex<ContinuousClock.Instant?>(nil)
        /// The same instant on the wall clock, to compare with PostgreSQL's own timestamps.
        let lastGrantWall = Mutex<Date?>(nil)
        let releases = Mutex<[ContinuousClock.Instant]>([])
        /// Failsafe mode: the other nodes' agents named in each grant.
        let peers = Mutex<[FailsafePeer]?>(nil)
        static let ttl: Int64 = 4000

        func respond(_ request: RecordedRequest) async -> (status: Int, headers: [(String, String)], body: Data) {
            let now = ContinuousClock.now
            if request.path == "/v1/lease/release" {
                releases.withLock { $0.append(now) }
                return (200, [], try! JSONEncoder().encode(LeaseResponse(granted: false, released: true, epoch: nil, ttlMilliseconds: nil, refusal: nil)))
            }
            asked.withLock { $0 += 1 }
            switch mode.withLock({ $0 }) {
            case .noPrimaryYet:
                return (409, [], try! JSONEncoder().encode(LeaseResponse(granted: false, released: false, epoch: nil, ttlMilliseconds: nil,
                                                                          refusal: "pg-us-east is not the primary; no primary is identified yet",
                                                                          refusalCode: .noPrimaryYet)))
            case .grant:
                lastGrantReceived.withLock { $0 = now }
                lastGrantWall.withLock { $0 = Date() }
                var answer = LeaseResponse(granted: true, released: false, epoch: 0, ttlMilliseconds: Self.ttl, refusal: nil)
                answer.failsafePeers = peers.withLock { $0 }
                return (200, [], try! JSONEncoder().encode(answer))
            case .silent:
                try? await Task.sleep(for: .seconds(30))
                return (504, [], Data())
            case .refuseNotPrimary:
                return (409, [], try! JSONEncoder().encode(LeaseResponse(granted: false, released: false, epoch: nil, ttlMilliseconds: nil,
                                                                          refusal: "pg-us-east is not the primary; pg-eu-west is",
                                                                          refusalCode: .notThePrimary)))
            }
        }
    }

    func keeper(_ cluster: SandboxCluster, monitor: Int) throws -> (Agent, LeaseKeeper) {
        let primary = cluster.primary
        var config = agentConfig(node: primary.name, region: primary.region, database: primary.config)
        config.lease = LeaseConfig(monitor: "http://127.0.0.1:\(monitor)", renewEvery: .milliseconds(300))
        let agent = try Agent(config: config, logger: testLogger())
        return (agent, try #require(agent.leaseKeeper))
    }

    /// A stand-in monitor and a running lease keeper against `cluster`'s primary; `body` gets them
    /// once the lease is held (with `awaitHolding`), and everything is stopped afterwards.
    func withKeeper(_ cluster: SandboxCluster, mode: Grantor.Mode = .grant, awaitHolding: Bool = true, peers: [FailsafePeer]? = nil,
                    _ body: (Grantor, Agent, LeaseKeeper) async throws -> Void) async throws {
        let grantor = Grantor()
        grantor.peers.withLock { $0 = peers }
        grantor.mode.withLock { $0 = mode }
        let server = try await TestHTTPServer { await grantor.respond($0) }
        defer { Task { await server.stop() } }
        let (agent, keeper) = try keeper(cluster, monitor: server.port)
        let task = Task { await keeper.run() }
        defer { task.cancel() }
        if awaitHolding {
            try await waitFor("holding the lease") { if case .holding = await keeper.state { return true } else { return false } }
        }
        try await body(grantor, agent, keeper)
        await agent.shutdown()
    }

    func takesWrites(_ cluster: SandboxCluster) async -> Bool {
        (try? await cluster.psql(cluster.primary, "INSERT INTO lease_t VALUES (1)")) != nil
    }

    @Test func aPrimaryCutOffFromTheMonitorFencesItselfBeforeTheLeaseRunsOutThere() async throws {
        try await withSandboxCluster { cluster in
            try await cluster.psql(cluster.primary, "CREATE TABLE lease_t (id int)")
            try await withKeeper(cluster) { grantor, _, keeper in
                #expect(await takesWrites(cluster))

                // The monitor goes silent (a partition): renewals hang and time out.
                grantor.mode.withLock { $0 = .silent }
                try await waitFor("the local PostgreSQL fenced", timeout: .seconds(10)) { await keeper.fencedAt != nil }
                #expect(!(await takesWrites(cluster)))
                // When PostgreSQL itself began refusing writes: the configuration reload that made it
                // read-only (its own clock; the stand-in monitor runs on this machine's too). The
                // monitor would count the lease as held until the last grant it sent + TTL: the old
                // primary refused writes before then.
                let reloaded = try await cluster.psql(cluster.primary, "SELECT extract(epoch FROM pg_conf_load_time())")
                let readOnlyFrom = try #require(Double(reloaded.trimmingCharacters(in: .whitespacesAndNewlines)))
                let lastGrant = try #require(grantor.lastGrantWall.withLock { $0 }).timeIntervalSince1970
                #expect(readOnlyFrom < lastGrant + Double(Grantor.ttl) / 1000,
                        "read-only \(readOnlyFrom - lastGrant) s after the last grant; the lease lasted \(Grantor.ttl) ms")
                guard case .fenced = await keeper.state else { Issue.record("\(await keeper.state)"); return }
                #expect(await keeper.selfFences == 1)
                #expect(try await cluster.psql(cluster.primary, "SHOW default_transaction_read_only").hasPrefix("on"))

                // The cut was a blip: the monitor grants the lease again (it still names this node the
                // primary, no failover started), so the self-imposed fence is lifted.
                grantor.mode.withLock { $0 = .grant }
                try await waitFor("writable again", timeout: .seconds(10)) { await takesWrites(cluster) }
                if case .holding = await keeper.state {} else { Issue.record("\(await keeper.state)") }
            }
        }
    }

    /// Failsafe mode, with the standby's real agent: the monitor goes silent (down, or cut off), the
    /// primary keeps taking writes on the standby's promises well past the lease; once a failover
    /// seals the standby's agent, the primary is refused and fences itself before the last promise
    /// the standby gave has run out — the instant the monitor would promote.
    @Test func failsafeKeepsThePrimaryWritableWhileEveryStandbyPromisesAndNotOnceOneIsSealed() async throws {
        try await withSandboxCluster { cluster in
            try await cluster.psql(cluster.primary, "CREATE TABLE lease_t (id int)")
            let standby = cluster.standbys[0]
            let standbyAgent = try Agent(config: agentConfig(node: standby.name, region: standby.region, database: standby.config), logger: testLogger())
            try await withAgentServer(standbyAgent) { url in
                try await withKeeper(cluster, peers: [FailsafePeer(node: standby.name, url: url)]) { grantor, _, keeper in
                    grantor.mode.withLock { $0 = .silent }
                    let silentFrom = ContinuousClock.now
                    // Two whole TTLs without the monitor: still writable, on the standby's promises.
                    try await waitFor("failsafe mode", timeout: .seconds(10)) { await keeper.onFailsafe }
                    try await waitFor("two TTLs", timeout: .seconds(20)) {
                        silentFrom.duration(to: .now) > .milliseconds(2 * Grantor.ttl)
                    }
                    #expect(await takesWrites(cluster))
                    #expect(await keeper.fencedAt == nil)
                    let held = standbyAgent.currentPromise()
                    #expect(held.holder == cluster.primary.name)
                    #expect(held.remainingMilliseconds > 0)

                    // A failover under epoch 1 seals the standby's agent: no more promises.
                    let sealedAt = ContinuousClock.now
                    let sealed = try await standbyAgent.seal(epoch: 1)
                    let promiseEnds = sealedAt.advanced(by: .milliseconds(sealed.remainingMilliseconds))
                    try await waitFor("fenced", timeout: .seconds(10)) { await keeper.fencedAt != nil }
                    let fencedAt = try #require(await keeper.fencedAt)
                    #expect(fencedAt < promiseEnds, "fenced \(promiseEnds.duration(to: fencedAt)) after the standby's last promise ran out")
                    #expect(!(await takesWrites(cluster)))
                    // A replayed or late failsafe request under the old epoch is refused.
                    let late = await standbyAgent.failsafe(FailsafeRequest(primary: cluster.primary.name, epoch: 0, ttlMilliseconds: 4000))
                    #expect(!late.granted)
                    #expect(late.refusal?.contains("already follows epoch 1") == true)
                }
            }
        }
    }

    @Test func aStandbyThatTakesWritesItselfPromisesNothing() async throws {
        try await withSandboxCluster { cluster in
            // The "standby" here is the primary itself, asked by a node claiming to be primary too.
            let agent = try Agent(config: agentConfig(node: cluster.primary.name, region: cluster.primary.region, database: cluster.primary.config),
                                  logger: testLogger())
            let answer = await agent.failsafe(FailsafeRequest(primary: "pg-elsewhere", epoch: 0, ttlMilliseconds: 4000))
            #expect(!answer.granted)
            #expect(answer.refusal?.contains("accepts writes itself") == true)
            #expect(agent.currentPromise().holder == nil)
            await agent.shutdown()
        }
    }

    /// A returning old primary (or any primary whose agent restarts while the monitor is out of
    /// reach) is not left taking writes on its own say-so: fenced until the monitor grants the lease.
    @Test func anAgentThatCannotConfirmItsPrimaryAtStartFencesItUntilTheMonitorGrantsTheLease() async throws {
        try await withSandboxCluster { cluster in
            try await cluster.psql(cluster.primary, "CREATE TABLE lease_t (id int)")
            try await withKeeper(cluster, mode: .silent, awaitHolding: false) { grantor, _, keeper in
                try await waitFor("fenced for want of a lease", timeout: .seconds(10)) { await keeper.fencedAt != nil }
                #expect(!(await takesWrites(cluster)))
                guard case .fenced(let reason) = await keeper.state else { Issue.record("\(await keeper.state)"); return }
                #expect(reason.contains("not confirmed as the primary"), "\(reason)")
                // Writable again behind the agent's back (a restart with data from before the fence):
                // fenced again within moments.
                try await cluster.psql(cluster.primary, "ALTER SYSTEM RESET default_transaction_read_only")
                try await cluster.psql(cluster.primary, "SELECT pg_reload_conf()")
                try await waitFor("fenced again", timeout: .seconds(5)) { await keeper.selfFences >= 2 }
                try await waitFor("read-only again", timeout: .seconds(5)) { !(await takesWrites(cluster)) }
                // The monitor answers and names this node the primary: the fence is lifted.
                grantor.mode.withLock { $0 = .grant }
                try await waitFor("writable under the lease", timeout: .seconds(10)) { await takesWrites(cluster) }
                if case .holding = await keeper.state {} else { Issue.record("\(await keeper.state)") }
            }
        }
    }

    @Test func aPrimaryTheMonitorNoLongerRecognisesFencesItselfAtOnce() async throws {
        try await withSandboxCluster { cluster in
            try await cluster.psql(cluster.primary, "CREATE TABLE lease_t (id int)")
            try await withKeeper(cluster, mode: .noPrimaryYet, awaitHolding: false) { grantor, _, keeper in
                // A monitor still discovering roles has no verdict on this node: nothing changes.
                try await waitFor("three renewals asked") { grantor.asked.withLock { $0 } >= 3 }
                #expect(await takesWrites(cluster))
                #expect(await keeper.fencedAt == nil)
                grantor.mode.withLock { $0 = .refuseNotPrimary }
                // An old primary back from a partition: the monitor names another primary.
                try await waitFor("fenced on the monitor's word", timeout: .seconds(10)) { await keeper.fencedAt != nil }
                #expect(!(await takesWrites(cluster)))
                guard case .fenced(let reason) = await keeper.state else { Issue.record("\(await keeper.state)"); return }
                #expect(reason.contains("pg-eu-west is"))
            }
        }
    }

    @Test func aDeadPostgreSQLGivesTheLeaseUpAtOnce() async throws {
        try await withSandboxCluster { cluster in
            try await withKeeper(cluster) { grantor, _, keeper in
                let killed = ContinuousClock.now
                _ = try await cluster.kill(cluster.primary)
                try await waitFor("released", timeout: .seconds(5)) { !grantor.releases.withLock { $0 }.isEmpty }
                let released = try #require(grantor.releases.withLock { $0.first })
                // Long before the lease (4 s) would have run out on its own.
                #expect(killed.duration(to: released) < .milliseconds(Grantor.ttl), "released \(killed.duration(to: released)) after the kill")
                #expect(await keeper.state == .idle)
            }
        }
    }
}
