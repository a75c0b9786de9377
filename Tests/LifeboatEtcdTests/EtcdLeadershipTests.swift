import Foundation
import LifeboatCore
import LifeboatEtcd
import LifeboatPorts
import LifeboatSandbox
import Logging
import Synchronization
import Testing

/// Leader election and the shared state in a real etcd.
@Suite(.serialized) struct EtcdLeadershipTests {
    /// Each monitor's terms as it saw them begin and end, on one clock.
    final class Terms: Sendable {
        let events = Mutex<[(monitor: String, term: EtcdLeadership.Term?, at: ContinuousClock.Instant)]>([])
        func record(_ monitor: String) -> @Sendable (EtcdLeadership.Term?) async -> Void {
            { term in self.events.withLock { $0.append((monitor, term, .now)) } }
        }
        func leaders() -> [String] {
            var leading: Set<String> = []
            for event in events.withLock({ $0 }) {
                if event.term != nil { leading.insert(event.monitor) } else { leading.remove(event.monitor) }
            }
            return leading.sorted()
        }
        /// Never two leaders at once, going through the events in order.
        func overlaps() -> [String] {
            var leading: Set<String> = []
            var problems: [String] = []
            for event in events.withLock({ $0 }) {
                if event.term != nil {
                    if !leading.isEmpty { problems.append("\(event.monitor) began leading while \(leading.sorted()) led") }
                    leading.insert(event.monitor)
                } else {
                    leading.remove(event.monitor)
                }
            }
            return problems
        }
    }

    func waitFor(_ what: String, within: Duration = .seconds(15), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: within)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("not within \(within): \(what)")
        throw CancellationError()
    }

    @Test func oneMonitorLeadsAndAnotherTakesOverWhenItStops() async throws {
        try await withEtcd { server in
            let terms = Terms()
            let client = EtcdClient(endpoints: [server.endpoint])
            let monitors = ["monitor-a", "monitor-b", "monitor-c"].map {
                EtcdLeadership(client: client, cluster: "shop", monitor: $0, api: "http://\($0):8547", ttlSeconds: 2, logger: Logger(label: $0))
            }
            var tasks: [String: Task<Void, Never>] = [:]
            for monitor in monitors { tasks[monitor.me.monitor] = Task { await monitor.run(changed: terms.record(monitor.me.monitor)) } }
            try await waitFor("a leader") { terms.leaders().count == 1 }
            // The followers learn who leads.
            let first = terms.leaders()[0]
            for monitor in monitors where monitor.me.monitor != first {
                try await waitFor("\(monitor.me.monitor) names the leader") { await monitor.leader?.monitor == first }
                #expect(await monitor.leads() == false)
            }
            // The leader stops: its session is revoked, another leads well within one session TTL.
            let stopped = ContinuousClock.now
            tasks[first]?.cancel()
            await tasks[first]?.value
            try await waitFor("a new leader") { terms.leaders().count == 1 && terms.leaders()[0] != first }
            #expect(stopped.duration(to: .now) < .seconds(2), "a monitor that stops hands over at once")
            #expect(terms.overlaps().isEmpty, "\(terms.overlaps())")
            for task in tasks.values { task.cancel() }
            for task in tasks.values { await task.value }
        }
    }

    /// A leader that etcd stops answering steps down before any other monitor can have won.
    @Test func aLeaderCutOffFromEtcdStepsDownBeforeAnotherWins() async throws {
        try await withEtcd { server in
            let terms = Terms()
            let client = EtcdClient(endpoints: [server.endpoint], timeout: .milliseconds(500))
            let a = EtcdLeadership(client: client, cluster: "shop", monitor: "monitor-a", api: "http://a:8547", ttlSeconds: 2, logger: Logger(label: "a"))
            let ta = Task { await a.run(changed: terms.record("monitor-a")) }
            try await waitFor("a leads") { await a.leads() }
            let b = EtcdLeadership(client: client, cluster: "shop", monitor: "monitor-b", api: "http://b:8547", ttlSeconds: 2, logger: Logger(label: "b"))
            let tb = Task { await b.run(changed: terms.record("monitor-b")) }
            try await waitFor("b follows a") { await b.leader?.monitor == "monitor-a" }
            let frozen = ContinuousClock.now
            server.pause()
            try await waitFor("a steps down") { await a.leads() == false && terms.leaders().isEmpty }
            #expect(frozen.duration(to: .now) <= .seconds(2), "stepped down within the session TTL")
            // A deposed leader cannot write: its state store's transactions are guarded by its term.
            server.resume()
            // Either may win the next term (a campaigns again with a new session as soon as etcd
            // answers); what matters is one leader, never two at once, and a new term.
            try await waitFor("a new leader", within: .seconds(20)) { terms.leaders().count == 1 }
            #expect(terms.overlaps().isEmpty, "\(terms.overlaps())")
            let oldTerm = try #require(terms.events.withLock { $0.first { $0.monitor == "monitor-a" }?.term })
            let winner = terms.leaders()[0] == "monitor-a" ? a : b
            let newTerm = try #require(await winner.currentTerm())
            #expect(newTerm.revision > oldTerm.revision && newTerm.lease != oldTerm.lease, "the new term is not the deposed one")
            let stale = EtcdStateStore(client: client, cluster: "shop") { oldTerm }
            await #expect(throws: EtcdStateStore.NotLeading.self) {
                try await stale.append([JournalLine(epoch: Epoch(1), kind: .decision, message: "from a deposed leader")])
            }
            #expect(try await stale.journal(after: 0, limit: 10).isEmpty, "nothing of the deposed leader's write landed")
            let staleEpochs = EtcdEpochStore(client: client, cluster: "shop") { oldTerm }
            await #expect(throws: EtcdStateStore.NotLeading.self) {
                try await staleEpochs.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-a")
            }
            #expect(try await staleEpochs.load() == .initial, "a deposed leader stores no epoch")
            // The leader stores it; the next leader resuming the same failover stores it again.
            let leading = EtcdEpochStore(client: client, cluster: "shop") { newTerm }
            try await leading.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-b")
            try await leading.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-c")
            #expect(try await leading.load() == EpochRecord(epoch: Epoch(1), owner: "monitor-b"))
            ta.cancel()
            tb.cancel()
            await ta.value
            await tb.value
        }
    }

    @Test func theStateAndJournalAreSharedAndGuardedByTheTerm() async throws {
        try await withEtcd { server in
            let client = EtcdClient(endpoints: [server.endpoint])
            let leadership = EtcdLeadership(client: client, cluster: "shop", monitor: "monitor-a", api: "http://a:8547", ttlSeconds: 10,
                                            logger: Logger(label: "a"))
            let task = Task { await leadership.run { _ in } }
            try await waitFor("a leads") { await leadership.leads() }
            let store = EtcdStateStore(client: client, cluster: "shop", keep: 600) { await leadership.currentTerm() }
            #expect(try await store.loadSnapshot() == nil)
            let snapshot = MachineSnapshot(phase: .watching(primary: "pg-b"), epoch: 1, paused: true, retired: ["pg-a"],
                                           lastFailoverAgo: 5000, lastReason: "failover complete", lastPrimaryLSN: 0x3000_0000)
            try await store.save(snapshot, journal: [JournalLine(epoch: Epoch(1), kind: .decision, message: "hello")])
            try await store.append([JournalLine(epoch: Epoch(1), kind: .stepStarted(.promote, node: "pg-b"), message: "promote pg-b")])
            // Another monitor (a follower, or the next leader) reads all of it.
            let reader = EtcdStateStore(client: EtcdClient(endpoints: [server.endpoint]), cluster: "shop") { nil }
            let loaded = try #require(try await reader.loadSnapshot())
            #expect(loaded.snapshot == snapshot)
            #expect(loaded.age < .seconds(5))
            let journal = try await reader.journal(after: 0, limit: 10)
            #expect(journal.map(\.seq) == [1, 2])
            #expect(journal.map(\.kind) == ["decision", "step-started"])
            #expect(journal[1].step == "promote" && journal[1].node == "pg-b")
            #expect(try await reader.journal(after: 1, limit: 10).map(\.message) == ["promote pg-b"])
            #expect(try await reader.journal(after: Int64.max, limit: 10).isEmpty)
            await #expect(throws: EtcdStateStore.NotLeading.self) { try await reader.append([JournalLine(epoch: Epoch(1), kind: .decision, message: "x")]) }
            // A new store of the same term (the next engine) numbers on; more lines than one
            // transaction holds land in order; the journal keeps its newest lines.
            let next = EtcdStateStore(client: client, cluster: "shop", keep: 600) { await leadership.currentTerm() }
            let many = (0..<700).map { JournalLine(epoch: Epoch(1), kind: .decision, message: "line \($0)") }
            try await next.save(snapshot, journal: many)
            let all = try await reader.journal(after: 0, limit: 2000)
            #expect(all.last?.seq == 702 && all.last?.message == "line 699")
            #expect(all.count <= 601 && all.count >= 600, "trimmed to the newest lines: \(all.count)")
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.seq + 1 == $1.seq })
            task.cancel()
            await task.value
        }
    }

    /// Journal lines read back from the shared store keep their typed kind.
    @Test func everyJournalKindSurvivesItsStoredForm() {
        var kinds: [JournalKind] = [.decision, .operatorCommand, .alert(.critical), .alert(.warning)]
        for step in FailoverStep.allCases {
            kinds += [.stepStarted(step, node: "pg-a"), .stepSucceeded(step, node: nil), .stepProgress(step), .stepFailed(step, node: "pg-b")]
        }
        for from in StateKind.allCases { for to in StateKind.allCases { kinds.append(.transition(from: from, to: to)) } }
        for kind in kinds {
            let stored = kind.stored
            #expect(JournalKind(stored: stored.kind, step: stored.step, node: stored.node) == kind, "\(stored)")
        }
        #expect(JournalKind(stored: "transition nowhere -> monitoring", step: nil, node: nil) == nil)
        #expect(JournalKind(stored: "step-started", step: "no-such-step", node: nil) == nil)
    }
}
