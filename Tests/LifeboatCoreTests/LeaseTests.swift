import Foundation
import LifeboatCore
import LifeboatTestSupport
import Testing

/// The primary's lease in the core, on a manual clock.
@Suite struct LeaseTests {
    static let ttl = Duration.seconds(5)

    func leased(_ topology: Topology = twoRegions) -> Harness {
        var h = Harness(topology, policy: FailoverPolicy(leaseTTL: Self.ttl))
        h.machine.started(now: h.now)
        h.steadyState()
        h.advance(Self.ttl)  // past the unknown window of the start
        return h
    }

    func answer(_ actions: [FailoverAction]) -> LeaseAnswer? {
        actions.lazy.compactMap { if case .leaseAnswer(let a) = $0 { return a } else { return nil } }.first
    }

    @Test func onlyThePrimaryGetsTheLeaseAndNotDuringAFailoverAwayFromIt() {
        var h = leased()
        #expect(answer(h.send(.lease(.renew(node: "pg-a")))) == .granted(epoch: .initial, ttl: Self.ttl))
        #expect(answer(h.send(.lease(.renew(node: "pg-b")))) == .refused(.notThePrimary(node: "pg-b", primary: "pg-a")))
        h.send(.operatorFailover(to: "pg-b", by: "ops"))
        #expect(answer(h.send(.lease(.renew(node: "pg-a")))) == .refused(.failoverRunning(node: "pg-a")))
        var off = Harness()
        off.steadyState()
        #expect(answer(off.send(.lease(.renew(node: "pg-a")))) == .refused(.notInUse))
    }

    @Test func aRenewedLeaseVetoesAFailoverEvenWhenTheStandbysLostTheirStream() {
        var h = leased()
        h.send(.lease(.renew(node: "pg-a")))
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .confirming, "the primary's agent still renews: it is alive")
        #expect(h.machine.state.kind != .bumpingEpoch)
        guard case .confirming(_, _, let veto?) = h.machine.state else { Issue.record("\(h.machine.state)"); return }
        #expect(veto.hasPrefix("primary pg-a's agent keeps renewing its lease"))
        // Renewals stop; when the lease runs out, the failure is corroborated.
        h.advance(Self.ttl)
        let actions = h.send(.timerFired(.leaseExpiry))
        #expect(h.kind == .bumpingEpoch, "\(h.machine.state)")
        #expect(actions.transitionReasons.first?.contains("its lease ran out") == true)
    }

    @Test func aStandbysFailsafePromiseVetoesAFailoverOnceTheLeaseRunsOut() {
        // The monitor is cut off from the primary's region (or was down): the lease runs out at the
        // monitor, but the primary's agent keeps taking writes on the standby's promise.
        var h = leased()
        h.send(.lease(.renew(node: "pg-a")))
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        h.advance(Self.ttl - .seconds(1))
        h.send(.failsafePromise(node: "pg-b", holder: "pg-a", remaining: Self.ttl))
        h.advance(.seconds(1))
        h.send(.timerFired(.leaseExpiry))
        guard case .confirming(_, _, let veto?) = h.machine.state else { Issue.record("\(h.machine.state)"); return }
        #expect(veto.contains("failsafe promise from standby pg-b"), "\(veto)")
        // Promises renewed every second keep vetoing…
        h.advance(.seconds(3))
        h.send(.failsafePromise(node: "pg-b", holder: "pg-a", remaining: Self.ttl))
        h.primaryFails()
        #expect(h.kind == .confirming)
        // …a promise that is not renewed runs out: the primary has fenced itself by then.
        h.advance(Self.ttl)
        h.primaryFails()
        #expect(h.kind == .bumpingEpoch, "\(h.machine.state)")
        // A promise held for another node, or none at all, vetoes nothing.
        var other = leased()
        other.send(.lease(.renew(node: "pg-a")))
        other.send(.failsafePromise(node: "pg-b", holder: "pg-c", remaining: Self.ttl))
        other.advance(Self.ttl)
        other.primaryFails()
        other.probe("pg-b", standby(streaming: false))
        #expect(other.kind == .bumpingEpoch, "\(other.machine.state)")
    }

    /// A restarted monitor, or the next leader of several, restores who held the lease: that lease
    /// counts as granted at the restart — no promotion for one TTL, then expired unless renewed, so
    /// a standby's still-open WAL receiver no longer vetoes the failover.
    @Test func aRestoredMachineCountsTheHoldersLeaseFromTheRestart() throws {
        var h = leased()
        h.send(.lease(.renew(node: "pg-a")))
        let snapshot = h.machine.snapshot(now: h.now)
        #expect(snapshot.leaseHolder == "pg-a")
        let decoded = try JSONDecoder().decode(MachineSnapshot.self, from: JSONEncoder().encode(snapshot))
        var restored = Harness(twoRegions, policy: FailoverPolicy(leaseTTL: Self.ttl))
        restored.now = h.now.advanced(by: .seconds(30))
        restored.machine = FailoverMachine(restoring: decoded, stored: EpochRecord(epoch: .initial, owner: "m1"), owner: "m2", topology: twoRegions,
                                           detection: .default, policy: FailoverPolicy(leaseTTL: Self.ttl), now: restored.now)
        restored.machine.started(now: restored.now)
        guard case .valid = restored.machine.leaseView(of: "pg-a", now: restored.now) else {
            Issue.record("\(restored.machine.leaseView(of: "pg-a", now: restored.now))"); return
        }
        // The primary is cut off: its probes fail and the standby still streams (60 s receiver timeout).
        restored.primaryFails()
        restored.probe("pg-b", standby(streaming: true))
        #expect(restored.kind == .confirming, "not before the lease may have run out")
        restored.advance(Self.ttl)
        restored.send(.timerFired(.leaseExpiry))
        restored.primaryFails()
        #expect(restored.kind == .bumpingEpoch, "\(restored.machine.state)")
        // A snapshot from before the lease was remembered restores none.
        let old = MachineSnapshot(phase: .watching(primary: "pg-a"), epoch: 0, paused: false, retired: [], lastFailoverAgo: nil, lastReason: "")
        let none = FailoverMachine<ManualClock>(restoring: old, stored: .initial, owner: "m2", topology: twoRegions, detection: .default,
                                                policy: FailoverPolicy(leaseTTL: Self.ttl), now: restored.now)
        #expect(none.lease == nil)
    }

    @Test func withoutFailsafeModeAPromiseIsIgnored() {
        var h = Harness(twoRegions, policy: FailoverPolicy(leaseTTL: Self.ttl, failsafe: false))
        h.machine.started(now: h.now)
        h.steadyState()
        h.advance(Self.ttl)
        h.send(.lease(.renew(node: "pg-a")))
        h.send(.failsafePromise(node: "pg-b", holder: "pg-a", remaining: .seconds(60)))
        h.advance(Self.ttl)
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .bumpingEpoch, "\(h.machine.state)")
    }

    @Test func aReleasedLeaseCorroboratesAtOnceWhateverTheStandbysSay() {
        var h = leased()
        h.send(.lease(.renew(node: "pg-a")))
        let released = h.send(.lease(.release(node: "pg-a")))
        #expect(released.contains(.probe(nodes: ["pg-a"], after: .zero)), "the primary is looked at again at once")
        h.primaryFails()
        // The standby's WAL receiver has not noticed yet (wal_receiver_timeout): no matter.
        h.probe("pg-b", standby(streaming: true))
        #expect(h.kind == .bumpingEpoch, "\(h.machine.state)")
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        let fenced = h.send(.fenceUnconfirmed(node: "pg-a", detail: "connection refused"))
        #expect(h.kind == .promoting, "a released lease needs no wait")
        #expect(fenced.transitionReasons.first?.contains("released its lease") == true)
    }

    @Test func anUnfencedOldPrimaryIsWaitedForUntilItsLeaseRunsOut() {
        var h = leased()
        h.send(.lease(.renew(node: "pg-a")))
        h.advance(.seconds(1))
        // An operator fails over from a primary the monitor cannot reach but whose agent renewed 1 s ago.
        h.primaryFails()
        h.send(.operatorFailover(to: "pg-b", by: "ops"))
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        let waiting = h.send(.fenceUnconfirmed(node: "pg-a", detail: "no answer within 1s"))
        #expect(h.kind == .awaitingLease)
        #expect(waiting.sideEffects.isEmpty, "nothing is promoted while the lease may be held")
        let timer = waiting.compactMap { if case .scheduleTimer(.leaseExpiry, let after) = $0 { return after } else { return nil } }.last
        #expect(timer.map { $0 > .zero && $0 <= Self.ttl } == true, "\(String(describing: timer))")
        // Its agent cannot renew any more: refused, so it fences itself.
        #expect(answer(h.send(.lease(.renew(node: "pg-a")))) == .refused(.failoverRunning(node: "pg-a")))
        h.advance(timer ?? Self.ttl)
        let over = h.send(.timerFired(.leaseExpiry))
        #expect(h.kind == .promoting)
        #expect(over.sideEffects == [.promote(node: "pg-b", epoch: Epoch(1))])
    }

    @Test func aConfirmedFenceNeedsNoWait() {
        var h = leased()
        h.send(.lease(.renew(node: "pg-a")))
        h.send(.operatorSwitchover(to: "pg-b", by: "ops"))
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "read-only"))
        #expect(h.kind == .catchingUp, "the switchover fenced the primary for real: no lease wait")
    }

    @Test func afterAStartEveryLeaseCountsAsHeldForATTL() {
        var h = Harness(twoRegions, policy: FailoverPolicy(leaseTTL: Self.ttl))
        h.machine.started(now: h.now)
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .bumpingEpoch, "the standbys corroborate; the lease state is unknown")
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.fenceUnconfirmed(node: "pg-a", detail: "connection refused"))
        #expect(h.kind == .awaitingLease, "a lease granted before the restart may still be held")
        h.advance(Self.ttl)
        h.send(.timerFired(.leaseExpiry))
        #expect(h.kind == .promoting)
    }
}
