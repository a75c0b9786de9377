import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatEngine
import LifeboatEtcd
import LifeboatHTTP
import LifeboatMonitor
import LifeboatSandbox
import LifeboatTestSupport
import Logging
import Synchronization
import Testing

/// Three monitors over a real etcd, with real PostgreSQL and the agents as production runs them:
/// one leads and acts, the others say who does; the leader stopping hands over without a
/// failover; a leader stopped in the middle of a failover is replaced by one that finishes it
/// from the state in etcd, with one epoch and one promotion.
@Suite(.serialized) struct SeveralMonitorsTests {
    final class Monitors: Sendable {
        let assemblies: [MonitorAssembly]
        let tasks = Mutex<[Task<Void, any Error>?]>([])
        init(_ assemblies: [MonitorAssembly]) {
            self.assemblies = assemblies
            tasks.withLock { tasks in tasks = assemblies.map { assembly in Task { try await assembly.run() } } }
        }
        func stop(_ index: Int) {
            tasks.withLock { $0[index]?.cancel() }
        }
        func wait(_ index: Int) async {
            _ = await tasks.withLock { $0[index] }?.result
        }
        func stopAll() async {
            for index in assemblies.indices { stop(index) }
            for index in assemblies.indices { await wait(index) }
        }
        /// The monitors whose engine runs now, by index.
        func leading() -> [Int] { assemblies.indices.filter { assemblies[$0].slot.engine != nil } }
    }

    @Test func oneOfThreeMonitorsLeadsAndAFailoverSurvivesTheLeadersStop() async throws {
        try await EtcdServer.ensureInstalled(install: true, log: { print($0) })
        let etcd = try EtcdServer()
        defer { etcd.stop() }
        let client = EtcdClient(endpoints: [etcd.endpoint])
        try await etcd.waitUntilServing {
            do { _ = try await client.get("/lifeboat/probe"); return true } catch { return false }
        }
        try await withSandboxCluster { cluster in
            let us = cluster.primary, eu = cluster.standbys[0]
            let address = cluster.block.apiAddress
            let ports = try (0..<3).map { _ in try FreePort.find(bindableOn: [address]) }
            let agents = try SandboxAgents(cluster: cluster, monitors: ports.map { "http://\(address):\($0)" }, logger: testLogger())
            try await agents.start(logger: testLogger())
            defer { Task { await agents.stop() } }
            let drill = SandboxDrill(logger: testLogger())
            // The first monitor to finish a fence in this test stops right there (mid-failover).
            let crashed = Mutex<Int?>(nil)
            let monitorsBox = Mutex<Monitors?>(nil)
            var assemblies: [MonitorAssembly] = []
            for (index, port) in ports.enumerated() {
                var config = try drill.monitorConfig(cluster, knot: nil, agents: agents, apiPort: port)
                config.etcd = EtcdConfig(endpoints: ["http://127.0.0.1:1", etcd.endpoint], sessionTTLSeconds: 2)
                let directory = "\(cluster.directory)/monitor-\(index)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                var logger = testLogger()
                logger[metadataKey: "monitor"] = "\(index)"
                let settings = Engine<ContinuousClock>.Settings(afterStep: { step in
                    guard step == .fence else { return }
                    let first = crashed.withLock { value -> Bool in
                        guard value == nil else { return false }
                        value = index
                        return true
                    }
                    if first { monitorsBox.withLock { $0 }?.stop(index) }
                })
                assemblies.append(try MonitorAssembly(config: config, statePath: "\(directory)/state.db", logger: logger,
                                                      options: .init(engine: settings, signals: [])))
            }
            let monitors = Monitors(assemblies)
            monitorsBox.withLock { $0 = monitors }
            defer { Task { await monitors.stopAll() } }

            // One leads, watches us-east and grants its agent the lease; the others say who leads.
            try await waitFor("one monitor leads with the lease held by \(us.name)", timeout: .seconds(30)) {
                let leading = monitors.leading()
                guard leading.count == 1, let engine = monitors.assemblies[leading[0]].slot.engine else { return false }
                guard case .monitoring(us.name) = await engine.state else { return false }
                return await engine.lease.map { $0.holder == us.name && !$0.released } == true
            }
            let first = monitors.leading()[0]
            let firstID = try monitors.assemblies[first].store.monitorID()
            for index in monitors.assemblies.indices where index != first {
                let control = monitors.assemblies[index].control
                try await waitFor("monitor \(index) names the leader") { await control.status().monitors?.leader == firstID }
                let status = await control.status()
                #expect(status.state == "following" && status.monitors?.leading == false)
                #expect(status.lastDecision.contains(firstID))
                let answer = await control.command(.operatorSwitchover(to: nil, by: "test"))
                #expect(answer == .notLeader(leader: firstID, api: "http://\(address):\(ports[first])"), "a follower does nothing: \(answer)")
            }

            // The leader stops: another takes over and keeps watching us-east, without a failover.
            monitors.stop(first)
            await monitors.wait(first)
            try await waitFor("another monitor leads and watches \(us.name)", timeout: .seconds(20)) {
                let leading = monitors.leading()
                guard leading.count == 1, leading[0] != first, let engine = monitors.assemblies[leading[0]].slot.engine else { return false }
                guard case .monitoring(us.name) = await engine.state else { return false }
                return await engine.lease.map { $0.holder == us.name && !$0.released } == true
            }
            #expect(try await EtcdEpochStore(client: client, cluster: "sandbox").load().epoch == .initial, "no failover when the leader changed")
            _ = try await cluster.psql(us, "CREATE TABLE IF NOT EXISTS still_writable (id int)")

            // The primary dies; the leader fails over and stops right after fencing; the last
            // monitor takes over and finishes the same failover from etcd.
            let second = monitors.leading()[0]
            _ = try await cluster.kill(us)
            try await waitFor("the failover stopped mid-way with its leader", timeout: .seconds(30)) { crashed.withLock { $0 } == second }
            await monitors.wait(second)
            let third = try #require(monitors.assemblies.indices.first { $0 != first && $0 != second })
            try await waitFor("the third monitor completes the failover to \(eu.name)", timeout: .seconds(40)) {
                guard let engine = monitors.assemblies[third].slot.engine else { return false }
                if case .monitoring(eu.name) = await engine.state { return true } else { return false }
            }
            let stored = try await EtcdEpochStore(client: client, cluster: "sandbox").load()
            #expect(stored.epoch == Epoch(1), "one failover, one epoch: \(stored)")
            #expect(stored.owner == (try monitors.assemblies[second].store.monitorID()), "the epoch is the interrupted leader's, resumed")
            // One promotion: eu-west is on timeline 2, not further.
            let timeline = try await cluster.psql(eu, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
            #expect(timeline.trimmingCharacters(in: .whitespacesAndNewlines) == "00000002", "timeline \(timeline)")
            let journal = try await EtcdStateStore(client: client, cluster: "sandbox") { nil }.journal(after: 0, limit: 1000)
            let promotions = journal.filter { $0.kind == "step-succeeded" && $0.step == FailoverStep.promote.rawValue }
            #expect(promotions.count == 1, "\(promotions.map(\.message))")
            #expect(journal.contains { $0.kind == "step-succeeded" && $0.step == FailoverStep.fence.rawValue })
            await monitors.stopAll()
        }
    }
}
