import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatTestSupport
import Logging
import Synchronization

/// A fleet whose probe answers the test sets, recording every action the engine takes.
final class FakeFleet: DatabaseFleet {
    struct State {
        var probes: [String: ProbeResult] = [:]
        var actions: [String] = []
        /// Steps that never return (and ignore cancellation): the engine's deadline must end them.
        var hang: Set<FailoverStep> = []
        /// The hung steps, released only when the fleet goes away (a dropped continuation is a
        /// runtime error of its own).
        var stuck: [CheckedContinuation<Void, Never>] = []
    }

    let state = Mutex(State())

    deinit { releaseStuck() }

    func releaseStuck() {
        for continuation in state.withLock({ s -> [CheckedContinuation<Void, Never>] in defer { s.stuck = [] }; return s.stuck }) { continuation.resume() }
    }

    func set(_ node: String, _ result: ProbeResult) { state.withLock { $0.probes[node] = result } }
    var actions: [String] { state.withLock { $0.actions } }

    private func act(_ step: FailoverStep, _ text: String) async {
        state.withLock { $0.actions.append(text) }
        if state.withLock({ $0.hang.contains(step) }) {
            // Deaf to cancellation, like a driver stuck on a dead socket.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in state.withLock { $0.stuck.append(continuation) } }
        }
    }

    func probe(_ node: String, timeout: Duration) async -> ProbeResult {
        state.withLock { $0.probes[node] } ?? .unreachable(ProbeFailure(.refused, "connection refused"))
    }

    func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome {
        await act(.fence, "fence \(node) \(epoch)")
        return .unreachable(ProbeFailure(.refused, "connection refused"))
    }

    func promote(_ node: String, epoch: Epoch, timeout: Duration) async throws -> String {
        await act(.promote, "promote \(node) \(epoch)")
        set(node, .reachable(NodeStatus(inRecovery: false, currentLSN: LSN(0x5000))))
        return "pg_promote returned true"
    }

    func waitWritable(_ node: String, timeout: Duration) async throws -> String {
        await act(.waitWritable, "wait-writable \(node)")
        return "writable"
    }

    func waitCaughtUp(_ node: String, primary: String, epoch: Epoch, timeout: Duration) async throws -> String {
        await act(.catchUp, "catch-up \(node)")
        return "caught up"
    }

    func repoint(_ node: String, toPrimary primary: String, timeout: Duration) async throws -> String {
        await act(.repoint, "repoint \(node)")
        return "repointed"
    }

    func shutdown() async { releaseStuck() }
}

/// A state store in memory that can be told to fail its saves.
final class FakeStateStore: StateStore {
    struct State {
        var snapshot: MachineSnapshot?
        var journal: [StoredJournalLine] = []
        var failSaves = false
        var saves = 0
    }

    let state = Mutex(State())

    struct DiskFull: Error, CustomStringConvertible { var description: String { "disk full" } }

    func loadSnapshot() async throws -> (snapshot: MachineSnapshot, age: Duration)? {
        state.withLock { $0.snapshot }.map { ($0, .zero) }
    }

    func save(_ snapshot: MachineSnapshot, journal: [JournalLine]) async throws {
        try state.withLock { s in
            if s.failSaves { throw DiskFull() }
            s.saves += 1
            s.snapshot = snapshot
            Self.add(journal, to: &s)
        }
    }

    func append(_ journal: [JournalLine]) async throws {
        state.withLock { Self.add(journal, to: &$0) }
    }

    func journal(after: Int64, limit: Int) async throws -> [StoredJournalLine] {
        state.withLock { Array($0.journal.filter { $0.seq > after }.prefix(limit)) }
    }
    func newestJournal(limit: Int) async throws -> [StoredJournalLine] {
        state.withLock { Array($0.journal.suffix(limit)) }
    }

    private static func add(_ lines: [JournalLine], to s: inout State) {
        for line in lines {
            let stored = line.kind.stored
            s.journal.append(StoredJournalLine(seq: Int64(s.journal.count + 1), unixTime: 0, epoch: line.epoch.value, kind: stored.kind,
                                               step: stored.step, node: stored.node, message: line.message))
        }
    }

    var lines: [StoredJournalLine] { state.withLock { $0.journal } }
}

func primary(_ lsn: UInt64 = 0x1000) -> ProbeResult {
    .reachable(NodeStatus(inRecovery: false, currentLSN: LSN(lsn), connectedReplicas: 1))
}

func standby(_ lsn: UInt64 = 0x1000, streaming: Bool) -> ProbeResult {
    .reachable(NodeStatus(inRecovery: true, receiveLSN: LSN(lsn), replayLSN: LSN(lsn), replayLag: .zero,
                          walReceiver: streaming ? .streaming(upstream: "10.0.0.1") : .notStreaming(status: nil)))
}

let twoRegions = Topology(
    regions: [Region(name: "us-east", priority: 1), Region(name: "eu-west", priority: 2)],
    databaseNodes: [DatabaseNode(name: "pg-a", region: "us-east"), DatabaseNode(name: "pg-b", region: "eu-west")]
)

/// An engine on a manual clock, with the fakes, and a way to drive it: the test moves time in
/// small steps and lets the engine's tasks run between them, until a condition holds.
struct EngineRig {
    let clock = ManualClock()
    let fleet = FakeFleet()
    let store = FakeStateStore()
    let epochs: InMemoryEpochStore
    let engine: Engine<ManualClock>

    init(epochs: InMemoryEpochStore = InMemoryEpochStore(), policy: FailoverPolicy = .default,
         settings: Engine<ManualClock>.Settings = .init(stepTimeout: .seconds(10), tick: .milliseconds(10)), owner: String = "monitor-test") {
        self.epochs = epochs
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        engine = Engine(topology: twoRegions, detection: .default, policy: policy, fleet: fleet, epochStore: epochs, clock: clock,
                        settings: settings, logger: logger, stateStore: store, owner: owner)
    }

    /// Advances the manual clock `step` at a time until `condition` holds; at most `limit` of
    /// engine time, else the test fails with `what`.
    func drive(_ what: String, step: Duration = .milliseconds(10), limit: Duration = .seconds(60),
               until condition: () async -> Bool) async throws {
        var elapsed = Duration.zero
        while elapsed <= limit {
            if await condition() { return }
            for _ in 0..<20 { await Task.yield() }
            if await condition() { return }
            clock.advance(by: step)
            elapsed += step
            try await Task.sleep(for: .microseconds(200))
        }
        throw WaitTimedOut(what: what, after: limit)
    }

    /// Reaches monitoring pg-a with pg-b streaming.
    func steadyState() async throws {
        fleet.set("pg-a", primary())
        fleet.set("pg-b", standby(streaming: true))
        try await drive("monitoring") {
            guard await engine.state == .monitoring(primary: "pg-a") else { return false }
            return await engine.health["pg-b"]?.currentStatus?.isStreaming == true
        }
    }

    /// The primary dies; the standby loses its stream.
    func primaryDies() {
        fleet.set("pg-a", .unreachable(ProbeFailure(.refused, "connection refused")))
        fleet.set("pg-b", standby(streaming: false))
    }
}
