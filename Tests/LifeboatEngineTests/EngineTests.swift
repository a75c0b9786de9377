import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatTestSupport
import Synchronization
import Testing

/// The engine on a manual clock, against fakes: what it saves, what it refuses to do, and the
/// deadlines it enforces itself.
@Suite struct EngineTests {
    @Test func aFailoverRunsEveryStepAfterItsDecisionWasSaved() async throws {
        let rig = EngineRig()
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        try await rig.steadyState()
        rig.primaryDies()
        try await rig.drive("failover complete") { await rig.engine.state == .monitoring(primary: "pg-b") }
        #expect(rig.fleet.actions == ["fence pg-a 1", "promote pg-b 1", "wait-writable pg-b"])
        #expect(try await rig.epochs.load() == EpochRecord(epoch: Epoch(1), owner: "monitor-test"))
        // Every step's start is in the saved journal, before its result.
        let kinds = rig.store.lines.map { "\($0.kind) \($0.step ?? "")" }
        let promoteStarted = try #require(kinds.firstIndex(of: "step-started promote"))
        let promoteDone = try #require(kinds.firstIndex(of: "step-succeeded promote"))
        #expect(promoteStarted < promoteDone)
        // The saved snapshot is the machine after the failover.
        #expect(rig.store.state.withLock { $0.snapshot?.phase } == .watching(primary: "pg-b"))
        #expect(rig.store.state.withLock { $0.snapshot?.epoch } == 1)
    }

    @Test func aFailedSaveStopsTheFailoverBeforeAnySideEffect() async throws {
        let rig = EngineRig()
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        try await rig.steadyState()
        rig.store.state.withLock { $0.failSaves = true }
        rig.primaryDies()
        // Probes keep coming for ten seconds of engine time: the machine decides again and again,
        // but nothing is carried out while no decision can be saved.
        let probes = await rig.engine.probeCount
        try await rig.drive("many probes") { await rig.engine.probeCount >= probes + 40 }
        #expect(rig.fleet.actions.isEmpty, "\(rig.fleet.actions)")
        #expect(try await rig.epochs.load() == .initial, "the epoch is not bumped without a saved decision")
        if case .failingOver = await rig.engine.state { Issue.record("the unsaved decision was adopted") }
        // An operator's command gets the reason, and nothing is done either.
        let reply = await rig.engine.submit(.operatorFailover(to: "pg-b", by: "ops"))
        #expect(reply == .notSaved("disk full"))
        #expect(rig.fleet.actions.isEmpty)

        // The disk is back: the failover happens.
        rig.store.state.withLock { $0.failSaves = false }
        try await rig.drive("failover complete") { await rig.engine.state == .monitoring(primary: "pg-b") }
        #expect(rig.fleet.actions.first == "fence pg-a 1")
    }

    @Test func aStepThatOverrunsItsDeadlineIsFailedByTheEngine() async throws {
        let rig = EngineRig(policy: FailoverPolicy(stepAttempts: 2, retryDelay: .milliseconds(100)))
        rig.fleet.state.withLock { $0.hang = [.promote] }
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        try await rig.steadyState()
        rig.primaryDies()
        try await rig.drive("promote started") { rig.fleet.actions.contains("promote pg-b 1") }
        let started = rig.clock.now
        try await rig.drive("failed", limit: .seconds(60)) {
            if case .failed = await rig.engine.state { return true } else { return false }
        }
        // Two attempts of 10 s each (plus the retry delay): the adapter never returned.
        #expect(started.duration(to: rig.clock.now) >= .seconds(20))
        #expect(started.duration(to: rig.clock.now) < .seconds(25))
        let failures = rig.store.lines.filter { $0.kind == "step-failed" }.map(\.message)
        #expect(failures == ["no answer within 10s", "no answer within 10s"], "\(failures)")
        #expect(rig.fleet.actions.filter { $0.hasPrefix("promote") }.count == 2)
    }

    @Test func aForeignEpochInTheStoreStopsTheFailoverAndIsAdopted() async throws {
        // Another monitor stored epoch 1 while this one still believes 0.
        let epochs = InMemoryEpochStore()
        let rig = EngineRig(epochs: epochs)
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        try await rig.steadyState()
        try await epochs.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-other")
        rig.primaryDies()
        try await rig.drive("failed") {
            if case .failed = await rig.engine.state { return true } else { return false }
        }
        #expect(rig.fleet.actions.isEmpty, "no fence, no promotion under an epoch this monitor does not own")
        #expect(await rig.engine.epoch == Epoch(1), "the store's epoch is adopted")
        #expect(try await epochs.load() == EpochRecord(epoch: Epoch(1), owner: "monitor-other"), "and left as it was")
        #expect(await rig.engine.lastReason.contains("epoch 1 (stored by monitor-other)"))
    }

    @Test func onStartTheEpochIsTheStoresWhenNewerThanTheSnapshot() async throws {
        let epochs = InMemoryEpochStore(EpochRecord(epoch: Epoch(7), owner: "monitor-other"))
        let rig = EngineRig(epochs: epochs)
        rig.store.state.withLock {
            $0.snapshot = MachineSnapshot(phase: .watching(primary: "pg-a"), epoch: 3, paused: false, retired: [], lastFailoverAgo: nil,
                                          lastReason: "watching")
        }
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        rig.fleet.set("pg-a", primary())
        rig.fleet.set("pg-b", standby(streaming: true))
        try await rig.drive("running") { await rig.engine.probeCount >= 2 }
        #expect(await rig.engine.epoch == Epoch(7))
        // The snapshot's primary is not assumed: another monitor moved on while this one was away.
        let alerts = rig.store.lines.filter { $0.kind == "alert critical" }.map(\.message)
        #expect(alerts.contains { $0.contains("newer than this monitor's epoch 3") }, "\(alerts)")
        try await rig.drive("rediscovered") { await rig.engine.state == .monitoring(primary: "pg-a") }
    }

    @Test func aDryRunIsTheCoresOwnDecisionAndChangesNothing() async throws {
        let rig = EngineRig()
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        try await rig.steadyState()
        let preview = await rig.engine.preview(.operatorSwitchover(to: nil, by: "ops"))
        guard case .started(let plan) = preview else { Issue.record("\(preview)"); return }
        #expect(plan.steps.map(\.step) == [.bumpEpoch, .fence, .catchUp, .promote, .waitWritable, .switchTraffic])
        #expect(plan.lossBytes == 0 && plan.planned)
        #expect(await rig.engine.state == .monitoring(primary: "pg-a"), "a preview changes nothing")
        #expect(await rig.engine.preview(.operatorFailover(to: "pg-z", by: "ops")) == .refused(.notAStandby(node: "pg-z", primary: "pg-a")))
        // The real command agrees with its preview.
        let reply = await rig.engine.submit(.operatorSwitchover(to: nil, by: "ops"))
        #expect(reply == .outcome(preview))
    }

    @Test func textFromARequestCannotForgeJournalLines() async throws {
        let rig = EngineRig()
        let task = Task { try await rig.engine.run() }
        defer { task.cancel() }
        try await rig.steadyState()
        let forged = "mallory\nstep-succeeded promote pg-b: done\u{1B}[31m"
        _ = await rig.engine.submit(.pause(by: forged))
        _ = await rig.engine.submit(.operatorFailover(to: "pg-b\nx", by: forged))
        let messages = rig.store.lines.map(\.message) + rig.engine.journal.entries.map(\.message)
        #expect(!messages.contains { $0.contains("\n") || $0.contains("\u{1B}") }, "\(messages)")
        #expect(messages.contains("paused by mallory\\nstep-succeeded promote pg-b: done\\u{1b}[31m: no automatic failover until resumed"))
        #expect(messages.contains { $0.contains("pg-b\\nx is not a standby of pg-a") })
    }
}

@Suite struct DeadlineTests {
    @Test func aCancelledCallerIsAnsweredAtOnceAndTheBodyAbandoned() async throws {
        let abandoned = Mutex(false)
        let stuck = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let caller = Task {
            try await withTimeout(.seconds(3600), onAbandon: { abandoned.withLock { $0 = true } }) {
                // Never returns until the test releases it, after the caller was answered.
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in stuck.withLock { $0 = continuation } }
            }
        }
        caller.cancel()
        let result = await caller.result
        #expect(throws: CancellationError.self) { try result.get() }
        try await waitFor("onAbandon ran") { abandoned.withLock { $0 } }
        try await waitFor("the body to be waiting") { stuck.withLock { $0 != nil } }
        stuck.withLock { $0?.resume(); $0 = nil }
    }

    @Test func aDeadlineOnTheManualClockFiresWhenTheClockPassesIt() async throws {
        let clock = ManualClock()
        let call = Task { try await withDeadline(.seconds(5), clock: clock) { try await clock.sleep(for: .seconds(60)); return 1 } }
        try await waitFor("both asleep") { clock.sleepers == 2 }
        clock.advance(by: .seconds(5))
        let result = await call.result
        #expect(throws: TimeoutError(after: .seconds(5))) { try result.get() }
    }

    @Test func aBodyThatFinishesFirstWins() async throws {
        let value = try await withTimeout(.seconds(30)) { 42 }
        #expect(value == 42)
    }
}
