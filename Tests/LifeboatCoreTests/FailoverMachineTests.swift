import Foundation
import LifeboatCore
import LifeboatTestSupport
import Testing

@Suite struct DiscoveryTests {
    @Test func theOnlyWritableNodeBecomesPrimary() {
        var h = Harness()
        h.probe("pg-b", standby(streaming: true))
        #expect(h.kind == .discovering)
        let actions = h.probe("pg-a", primary())
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        #expect(actions.transitionReasons == ["pg-a is the primary: reachable, not in recovery, accepts writes"])
    }

    @Test func twoWritableNodesRaiseAnAlertAndPickNeither() {
        var h = Harness()
        h.probe("pg-a", primary())
        #expect(h.kind == .discovering, "no pick before every node has been probed once")
        let actions = h.probe("pg-b", primary())
        #expect(h.kind == .discovering)
        #expect(actions.alerts == ["more than one node accepts writes (pg-a, pg-b); refusing to pick a primary"])
        #expect(actions.sideEffects.isEmpty, "neither is fenced nor promoted")
        #expect(h.probe("pg-a", primary()).alerts.isEmpty, "the alert is not repeated on every probe")
        // Once an operator fenced pg-b (read-only), pg-a is the only writable node.
        h.probe("pg-b", primary(readOnly: true))
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
    }

    @Test func aPrimaryHeldReadOnlyUntilItsAgentHoldsTheLeaseIsStillFound() {
        // Its agent fenced it (the monitor was unreachable when the agent started): with no
        // writable node, the only node out of recovery is the primary, so its lease can be granted
        // and the fence lifted.
        var h = Harness()
        h.probe("pg-b", standby(streaming: true))
        let actions = h.probe("pg-a", primary(readOnly: true))
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        #expect(actions.transitionReasons.first?.contains("out of recovery, but read-only") == true)
        // Two read-only nodes out of recovery: no pick, nothing to guess.
        var two = Harness()
        two.probe("pg-a", primary(readOnly: true))
        two.probe("pg-b", primary(readOnly: true))
        #expect(two.kind == .discovering)
    }

    @Test func aSecondWritableNodeAfterDiscoveryIsFencedByTheSplitBrainGuard() {
        var h = Harness()
        h.steadyState()
        let actions = h.probe("pg-b", primary())
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        #expect(actions.contains(.fence(node: "pg-b", epoch: .initial)))
        #expect(actions.alerts.first?.hasPrefix("split-brain guard: pg-b accepts writes") == true)
    }

    @Test func simultaneousWritersAreRefused() {
        var h = Harness(threeRegions)
        h.probe("pg-c", standby(streaming: false))
        h.probe("pg-a", primary())
        let actions = h.probe("pg-b", primary())
        #expect(h.kind == .discovering)
        #expect(actions.alerts == ["more than one node accepts writes (pg-a, pg-b); refusing to pick a primary"])
        // A node that cannot be reached counts as observed: discovery does not wait for it forever.
        var partial = Harness(threeRegions)
        partial.probe("pg-b", down)
        partial.probe("pg-c", standby(streaming: true))
        partial.probe("pg-a", primary())
        #expect(partial.machine.state == .monitoring(primary: "pg-a"))
    }
}

@Suite struct DetectionTests {
    @Test func aBlipShorterThanTheThresholdCausesNoFailover() {
        var h = Harness()
        h.steadyState()
        h.advance(.milliseconds(500))
        let first = h.probe("pg-a", down)
        #expect(first.contains(.probe(nodes: ["pg-a"], after: .milliseconds(100))), "a failing node is re-probed sooner")
        h.advance(.milliseconds(100))
        h.probe("pg-a", down)
        h.advance(.milliseconds(100))
        let back = h.probe("pg-a", primary())
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        #expect(back.sideEffects.isEmpty)
        #expect(h.transitions.map(\.1) == [.monitoring])
    }

    @Test func aStandbyStillStreamingVetoesTheFailover() {
        var h = Harness()
        h.steadyState()
        let actions = h.primaryFails()
        #expect(h.kind == .confirming)
        #expect(actions.contains(.probe(nodes: ["pg-b"], after: .zero)), "the standbys are asked at once")
        h.advance(.milliseconds(20))
        let veto = h.probe("pg-b", standby(streaming: true))
        #expect(veto.decisions == ["failover vetoed: standby pg-b still streams WAL from the primary; only the monitor's path to pg-a is failing"])
        #expect(veto.sideEffects.isEmpty)
        // The same veto is not repeated on every probe.
        h.advance(.milliseconds(500))
        #expect(h.probe("pg-b", standby(streaming: true)).isEmpty)
        // The monitor's path heals: back to monitoring, no failover ever started.
        h.probe("pg-a", primary())
        let healed = h.probe("pg-a", primary())
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        #expect(healed.transitionReasons == ["primary pg-a answers probes again; no failover"])
        #expect(h.machine.epoch == .initial)
    }

    @Test func aStaleStandbyObservationDoesNotCorroborate() {
        var h = Harness()
        h.probe("pg-a", primary())
        h.probe("pg-b", standby(streaming: false)) // observed before the primary failed
        h.primaryFails()
        #expect(h.kind == .confirming, "only standby observations made after the failure count")
    }

    @Test func noReachableStandbyMeansHoldingNotFailingOver() {
        var h = Harness()
        h.steadyState()
        h.primaryFails()
        h.advance(.milliseconds(10))
        let actions = h.probe("pg-b", down)
        #expect(h.kind == .holding)
        #expect(actions.alerts.count == 1)
        #expect(actions.sideEffects.isEmpty)
    }
}

@Suite struct AutomaticFailoverTests {
    @Test func fullWorkflowPromotesTheStandby() {
        var h = Harness()
        h.steadyState()
        h.primaryFails()
        h.advance(.milliseconds(10))
        let start = h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .bumpingEpoch)
        #expect(start.sideEffects == [.bumpEpoch(from: Epoch(0), to: Epoch(1))])
        #expect(start.transitionReasons.first?.hasPrefix("primary pg-a is down: the monitor cannot reach it and standby pg-b (no WAL receiver) lost its WAL stream too; chose pg-b") == true)

        #expect(h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: "")).sideEffects == [.fence(node: "pg-a", epoch: Epoch(1))])
        #expect(h.machine.epoch == Epoch(1))
        #expect(h.send(.stepSucceeded(.fence, node: "pg-a", detail: "unreachable")).sideEffects == [.promote(node: "pg-b", epoch: Epoch(1))])
        #expect(h.send(.stepSucceeded(.promote, node: "pg-b", detail: "pg_promote returned true")).sideEffects == [.waitWritable(node: "pg-b", epoch: Epoch(1))])
        #expect(h.send(.stepSucceeded(.waitWritable, node: "pg-b", detail: "write accepted")).sideEffects
            == [.switchTraffic(region: "eu-west", fromRegion: "us-east", node: "pg-b", epoch: Epoch(1))])
        h.advance(.milliseconds(300))
        let done = h.send(.stepSucceeded(.switchTraffic, node: "pg-b", detail: "no traffic switch configured"))
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
        #expect(done.transitionReasons.first?.hasPrefix("failover complete: pg-b is the primary under epoch 1") == true)
        #expect(h.transitions.map(\.1) == [.monitoring, .confirming, .bumpingEpoch, .fencing, .promoting, .waitingWritable, .switchingTraffic, .monitoring])
        #expect(h.machine.retired == ["pg-a"])
    }

    @Test func otherStandbysAreRepointedBeforeTrafficMoves() {
        var h = Harness(threeRegions)
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(0x2000, streaming: false))
        h.probe("pg-c", standby(0x1000, streaming: false))
        #expect(h.kind == .bumpingEpoch)
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "unreachable"))
        h.send(.stepSucceeded(.promote, node: "pg-b", detail: ""))
        let repoint = h.send(.stepSucceeded(.waitWritable, node: "pg-b", detail: ""))
        #expect(repoint.sideEffects == [.repoint(node: "pg-c", primary: "pg-b", epoch: Epoch(1))])
        let switching = h.send(.stepSucceeded(.repoint, node: "pg-c", detail: "primary_conninfo updated"))
        #expect(switching.sideEffects == [.switchTraffic(region: "eu-west", fromRegion: "us-east", node: "pg-b", epoch: Epoch(1))])
    }

    @Test func promotionFailsThenSucceedsOnRetry() {
        var h = Harness()
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "unreachable"))
        let failed = h.send(.stepFailed(.promote, node: "pg-b", error: StepError(.failed, "timeout after 10s")))
        #expect(failed.contains(.scheduleTimer(.retry(.promote), after: .milliseconds(200))))
        #expect(failed.decisions == ["promote on pg-b failed (attempt 1 of 3): timeout after 10s; retrying in 200ms"])
        #expect(h.kind == .promoting)
        h.advance(.milliseconds(200))
        #expect(h.send(.timerFired(.retry(.promote))).sideEffects == [.promote(node: "pg-b", epoch: Epoch(1))])
        #expect(h.send(.stepSucceeded(.promote, node: "pg-b", detail: "")).sideEffects == [.waitWritable(node: "pg-b", epoch: Epoch(1))])
    }

    @Test func aStepThatKeepsFailingStopsInFailedUntilAnOperatorResets() {
        var h = Harness()
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "unreachable"))
        var last: [FailoverAction] = []
        for attempt in 1...3 {
            last = h.send(.stepFailed(.promote, node: "pg-b", error: StepError(.failed, "permission denied")))
            if attempt < 3 {
                #expect(last.contains(.scheduleTimer(.retry(.promote), after: .milliseconds(200 << (attempt - 1)))))
                h.send(.timerFired(.retry(.promote)))
            }
        }
        #expect(h.kind == .failed)
        #expect(last.transitionReasons == ["promote on pg-b failed 3 times (last: permission denied); an operator must decide"])
        #expect(last.alerts.count == 1)
        // Probes no longer drive anything.
        #expect(h.probe("pg-b", standby(streaming: false)).sideEffects.isEmpty)
        #expect(h.send(.operatorFailover(to: nil, by: "alice")).refusals == [.lastFailoverFailed])
        h.send(.operatorReset(by: "alice"))
        #expect(h.kind == .discovering)
    }

    @Test func lateResultsOfOtherStepsAreIgnored() {
        var h = Harness()
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        let late = h.send(.stepSucceeded(.promote, node: "pg-b", detail: ""))
        #expect(late.sideEffects.isEmpty)
        #expect(h.kind == .bumpingEpoch)
        #expect(h.send(.timerFired(.retry(.fence))).isEmpty)
    }
}

@Suite struct GuardRailTests {
    /// Fails pg-a over to pg-b, ending in monitoring(pg-b).
    func failedOverOnce(_ topology: Topology = threeRegions) -> Harness {
        var h = Harness(topology)
        h.steadyState()
        h.primaryFails()
        for node in topology.databaseNodes.map(\.name) where node != "pg-a" {
            h.probe(node, standby(node == "pg-b" ? 0x2000 : 0x1000, streaming: false))
        }
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "unreachable"))
        h.send(.stepSucceeded(.promote, node: "pg-b", detail: ""))
        h.send(.stepSucceeded(.waitWritable, node: "pg-b", detail: ""))
        if topology.databaseNodes.count > 2 { h.send(.stepSucceeded(.repoint, node: "pg-c", detail: "")) }
        h.send(.stepSucceeded(.switchTraffic, node: "pg-b", detail: ""))
        return h
    }

    @Test func aSecondFailureInsideTheCooldownDoesNotFlap() {
        var h = failedOverOnce()
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
        h.advance(.seconds(60))
        h.probe("pg-b", primary(0x3000))
        h.probe("pg-c", standby(0x3000, streaming: true))
        h.primaryFails("pg-b")
        let held = h.probe("pg-c", standby(0x3000, streaming: false))
        #expect(h.kind == .holding)
        #expect(held.sideEffects.isEmpty)
        #expect(held.alerts.first?.contains("in cooldown: the last failover finished 1m0.3s ago and cooldown is 10m") == true, "\(held.alerts)")
        #expect(h.machine.epoch == Epoch(1))
        // Still held a minute later, no new alert.
        h.advance(.seconds(60))
        #expect(h.probe("pg-b", down).isEmpty == false)
        // Cooldown over: the next observation starts the failover.
        h.advance(.seconds(600))
        let start = h.probe("pg-c", standby(0x3000, streaming: false))
        #expect(start.sideEffects == [.bumpEpoch(from: Epoch(1), to: Epoch(2))])
        #expect(h.machine.retired == ["pg-a"], "the old primary pg-a is never a candidate")
    }

    @Test func pausedMonitorHoldsAndResumeFailsOver() {
        var h = Harness()
        h.steadyState()
        #expect(h.send(.pause(by: "bob")).decisions == ["paused by bob: no automatic failover until resumed"])
        h.primaryFails()
        let held = h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .holding)
        #expect(held.alerts.first?.contains("paused") == true)
        let resumed = h.send(.resume(by: "bob"))
        #expect(resumed.sideEffects == [.bumpEpoch(from: Epoch(0), to: Epoch(1))])
    }

    @Test func automaticOffHoldsWithAnAlert() {
        var h = Harness(policy: FailoverPolicy(automatic: false))
        h.steadyState()
        h.primaryFails()
        let held = h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .holding)
        #expect(held.alerts == ["primary pg-a is down and no automatic failover will happen: automatic failover is off; run lifeboat failover to promote a standby"])
        // An operator may still fail over by hand.
        #expect(h.send(.operatorFailover(to: "pg-b", by: "carol")).sideEffects == [.bumpEpoch(from: Epoch(0), to: Epoch(1))])
    }

    @Test func everyCandidateOverTheLagLimitRaisesAnAlertInstead() {
        var h = Harness(policy: FailoverPolicy(maxLagBytes: 1024))
        h.probe("pg-a", primary(0x10_0000))
        h.probe("pg-b", standby(0x1000, streaming: true))
        h.primaryFails()
        let held = h.probe("pg-b", standby(0x1000, streaming: false))
        #expect(h.kind == .holding)
        #expect(held.sideEffects.isEmpty)
        #expect(held.alerts.first?.contains("every candidate is over the lag limit") == true)
        #expect(held.alerts.first?.contains("1044480 bytes behind, over max_lag_bytes 1024") == true)
    }

    @Test func lagInSecondsAlsoCounts() {
        var h = Harness(policy: FailoverPolicy(maxLagSeconds: .seconds(5)))
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false, lag: .seconds(40)))
        #expect(h.kind == .holding)
        if case .holding(_, let blocker) = h.machine.state {
            #expect(blocker.contains("replay 40s behind, over max_lag_seconds 5s"))
        }
    }

    @Test func anUnhealthyStandbyIsNeverPromoted() {
        var h = Harness(threeRegions)
        h.steadyState()
        // pg-b (better region) is flapping: unhealthy; pg-c is fine.
        for _ in 0..<3 { h.probe("pg-b", down) }
        h.probe("pg-b", standby(0x5000, streaming: false)) // one good probe is not enough to recover
        h.primaryFails()
        h.probe("pg-b", down)
        let start = h.probe("pg-c", standby(0x1000, streaming: false))
        #expect(start.sideEffects == [.bumpEpoch(from: Epoch(0), to: Epoch(1))])
        guard case .failingOver(let progress) = h.machine.state else { Issue.record("not failing over"); return }
        #expect(progress.candidate == "pg-c")
    }

    @Test func splitBrainGuardFencesAReturningOldPrimary() {
        var h = failedOverOnce(twoRegions)
        let actions = h.probe("pg-a", primary(0x1000))
        #expect(actions.contains(.fence(node: "pg-a", epoch: Epoch(1))))
        #expect(actions.alerts.first?.hasPrefix("split-brain guard: pg-a accepts writes") == true)
        // Not fenced twice while the first fence is in flight.
        #expect(!h.probe("pg-a", primary(0x1000)).contains(.fence(node: "pg-a", epoch: Epoch(1))))
        #expect(h.send(.stepSucceeded(.fence, node: "pg-a", detail: "read-only")).decisions == ["fenced stray primary pg-a: read-only"])
        // Once read-only it is left alone.
        #expect(!h.probe("pg-a", primary(0x1000, readOnly: true)).contains(.fence(node: "pg-a", epoch: Epoch(1))))
        // Rejoined as a standby, it is a candidate again.
        #expect(h.probe("pg-a", standby(streaming: true)).decisions == ["pg-a rejoined as a standby; it is a failover candidate again"])
        #expect(h.machine.retired.isEmpty)
    }
}

@Suite struct OperatorFailoverTests {
    @Test func refusesUnknownAndUnhealthyTargets() {
        var h = Harness(threeRegions)
        h.steadyState()
        for _ in 0..<3 { h.probe("pg-c", down) }
        #expect(h.send(.operatorFailover(to: "pg-z", by: "dave")).refusals == [.notAStandby(node: "pg-z", primary: "pg-a")])
        #expect(h.send(.operatorFailover(to: "pg-c", by: "dave")).refusals == [.ineligible(node: "pg-c", .unhealthy(.unhealthy))])
        #expect(CommandRefusal.ineligible(node: "pg-c", .unhealthy(.unhealthy)).description == "pg-c: unhealthy (unhealthy)")
        #expect(h.kind == .monitoring)
    }

    @Test func failsOverAHealthyPrimaryByHandFencingIt() {
        var h = Harness()
        h.steadyState()
        let start = h.send(.operatorFailover(to: nil, by: "erin"))
        #expect(start.transitionReasons == ["operator erin asked for failover to pg-b, 0 bytes behind"])
        #expect(h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: "")).sideEffects == [.fence(node: "pg-a", epoch: Epoch(1))])
    }

    @Test func refusedBeforeDiscovery() {
        var h = Harness()
        #expect(h.send(.operatorFailover(to: nil, by: "frank")).refusals == [.noPrimaryIdentified])
    }
}

@Suite struct RoleChangeTests {
    @Test func aStaleProbeOfTheNewPrimaryDoesNotUndoTheFailover() {
        var h = GuardRailTests().failedOverOnce(twoRegions)
        // A probe that began before the promotion finished still says "in recovery".
        h.probe("pg-b", standby(streaming: false))
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
        h.probe("pg-b", primary(0x3000))
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
    }

    @Test func aPrimaryDemotedOutsideLifeboatIsRediscovered() {
        var h = Harness()
        h.steadyState()
        for _ in 0..<3 { h.probe("pg-a", standby(streaming: true)) }
        #expect(h.kind == .discovering)
        h.probe("pg-b", primary())
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
    }
}

@Suite struct TrafficSwitchFailureTests {
    /// Drives pg-a -> pg-b up to the traffic switch.
    func atTrafficSwitch() -> Harness {
        var h = Harness()
        h.steadyState()
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "unreachable"))
        h.send(.stepSucceeded(.promote, node: "pg-b", detail: ""))
        h.send(.stepSucceeded(.waitWritable, node: "pg-b", detail: ""))
        return h
    }

    @Test func aFailingSwitchLeavesThePromotionStandingAndKeepsRetrying() {
        var h = atTrafficSwitch()
        for _ in 1..<h.machine.policy.stepAttempts {
            h.send(.stepFailed(.switchTraffic, node: "pg-b", error: StepError(.failed, "HTTP 503")))
            h.send(.timerFired(.retry(.switchTraffic)))
        }
        let last = h.send(.stepFailed(.switchTraffic, node: "pg-b", error: StepError(.failed, "HTTP 503")))
        #expect(h.kind == .trafficNotSwitched)
        #expect(h.machine.state.primary == "pg-b", "the promotion stands")
        #expect(last.alerts == ["promoted pg-b but traffic not switched: HTTP 503"])
        #expect(last.contains(.scheduleTimer(.retry(.switchTraffic), after: .seconds(30))))
        #expect(!last.sideEffects.contains { if case .promote = $0 { return true } else { return false } })

        // The slow retry fails once more, then succeeds.
        #expect(h.send(.timerFired(.retry(.switchTraffic))).sideEffects
            == [.switchTraffic(region: "eu-west", fromRegion: "us-east", node: "pg-b", epoch: Epoch(1))])
        #expect(h.send(.stepFailed(.switchTraffic, node: "pg-b", error: StepError(.failed, "HTTP 503"))).contains(.scheduleTimer(.retry(.switchTraffic), after: .seconds(30))))
        h.send(.timerFired(.retry(.switchTraffic)))
        let done = h.send(.stepSucceeded(.switchTraffic, node: "pg-b", detail: "app now 198.51.100.21"))
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
        #expect(done.transitionReasons == ["traffic switched to pg-b on a later try: app now 198.51.100.21"])
    }

    @Test func theNewPrimaryIsStillWatchedWhileTrafficIsNotSwitched() {
        var h = atTrafficSwitch()
        for _ in 1...h.machine.policy.stepAttempts {
            h.send(.stepFailed(.switchTraffic, node: "pg-b", error: StepError(.failed, "timeout")))
            h.send(.timerFired(.retry(.switchTraffic)))
        }
        #expect(h.kind == .trafficNotSwitched)
        let actions = h.primaryFails("pg-b")
        #expect(actions.transitionReasons.first?.hasPrefix("primary pg-b failed 3 consecutive probes") == true)
        // pg-a is retired, so nothing can corroborate or take over: hold with an alert.
        #expect(h.kind == .holding)
    }

    @Test func anOperatorResetAfterPointingTrafficByHand() {
        var h = atTrafficSwitch()
        for _ in 1...h.machine.policy.stepAttempts {
            h.send(.stepFailed(.switchTraffic, node: "pg-b", error: StepError(.failed, "timeout")))
            h.send(.timerFired(.retry(.switchTraffic)))
        }
        h.send(.operatorReset(by: "oscar"))
        #expect(h.kind == .discovering)
        h.probe("pg-b", primary(0x5000))
        #expect(h.machine.state == .monitoring(primary: "pg-b"))
    }
}

@Suite struct SnapshotTests {
    @Test func aFailoverInterruptedAtEveryStepResumesWithTheSameStep() throws {
        let steps: [(FailoverStep, [FailoverEvent])] = [
            (.bumpEpoch, []),
            (.fence, [.stepSucceeded(.bumpEpoch, node: nil, detail: "")]),
            (.promote, [.stepSucceeded(.bumpEpoch, node: nil, detail: ""), .stepSucceeded(.fence, node: "pg-a", detail: "x")]),
            (.waitWritable, [.stepSucceeded(.bumpEpoch, node: nil, detail: ""), .stepSucceeded(.fence, node: "pg-a", detail: "x"),
                             .stepSucceeded(.promote, node: "pg-b", detail: "")]),
            (.switchTraffic, [.stepSucceeded(.bumpEpoch, node: nil, detail: ""), .stepSucceeded(.fence, node: "pg-a", detail: "x"),
                              .stepSucceeded(.promote, node: "pg-b", detail: ""), .stepSucceeded(.waitWritable, node: "pg-b", detail: "")]),
        ]
        for (step, events) in steps {
            var h = Harness()
            h.steadyState()
            h.primaryFails()
            h.probe("pg-b", standby(streaming: false))
            for event in events { h.send(event) }
            h.advance(.seconds(2))
            let snapshot = h.machine.snapshot(now: h.now)
            // Round trip through JSON, as the store keeps it.
            let decoded = try JSONDecoder().decode(MachineSnapshot.self, from: JSONEncoder().encode(snapshot))
            #expect(decoded == snapshot)
            let later = Instant(offset: .seconds(1000))
            // What the epoch store holds at that step: epoch 1, stored by this monitor, once past bump-epoch.
            let stored = step == .bumpEpoch ? EpochRecord.initial : EpochRecord(epoch: Epoch(1), owner: "m1")
            let restored = FailoverMachine<ManualClock>(restoring: decoded.aged(by: .seconds(5)), stored: stored, owner: "m1", topology: twoRegions,
                                                        detection: .default, policy: .default, now: later)
            #expect(restored.state.kind == step.stateKind, "\(step)")
            guard case .failingOver(let p) = restored.state else { Issue.record("not failing over"); continue }
            #expect(p.startedAt.duration(to: later) == .milliseconds(2000 + 5000))
            let resume = restored.resumeActions()
            #expect(resume.sideEffects == h.machine.actions(for: p), "\(step) re-issued")
            #expect(resume.decisions.first?.hasPrefix("resuming after a restart at step \(step.rawValue)") == true)
            #expect(restored.epoch == h.machine.epoch)
        }
    }

    @Test func cooldownAndRetiredNodesSurviveARestart() {
        var h = GuardRailTests().failedOverOnce()
        h.advance(.seconds(60))
        let snapshot = h.machine.snapshot(now: h.now)
        #expect(snapshot.phase == .watching(primary: "pg-b"))
        #expect(snapshot.lastFailoverAgo == 60_000)
        var restored = Harness(threeRegions)
        restored.machine = FailoverMachine(restoring: snapshot.aged(by: .seconds(30)), stored: EpochRecord(epoch: Epoch(1), owner: "m1"),
                                           owner: "m1", topology: threeRegions, detection: .default, policy: .default, now: restored.now)
        #expect(restored.machine.retired == ["pg-a"])
        #expect(restored.machine.resumeActions().isEmpty)
        restored.probe("pg-b", primary(0x3000))
        restored.probe("pg-c", standby(0x3000, streaming: true))
        restored.primaryFails("pg-b")
        restored.probe("pg-c", standby(0x3000, streaming: false))
        #expect(restored.kind == .holding, "still in cooldown after the restart")
    }
}

@Suite struct SwitchoverTests {
    @Test func aSwitchoverFencesWaitsForCatchUpThenPromotes() {
        var h = Harness()
        h.steadyState()
        let start = h.send(.operatorSwitchover(to: nil, by: "ops"))
        #expect(start.transitionReasons == ["operator ops asked for a switchover to pg-b (planned, zero data loss)"])
        #expect(start.alerts.first?.hasPrefix("switchover started: pg-a -> pg-b") == true)
        #expect(h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: "")).sideEffects == [.fenceForSwitchover(node: "pg-a", epoch: Epoch(1))])
        #expect(h.send(.stepSucceeded(.fence, node: "pg-a", detail: "fenced")).sideEffects == [.catchUp(node: "pg-b", primary: "pg-a", epoch: Epoch(1))])
        #expect(h.kind == .catchingUp)
        #expect(h.send(.stepSucceeded(.catchUp, node: "pg-b", detail: "replayed")).sideEffects == [.promote(node: "pg-b", epoch: Epoch(1))])
    }

    @Test func aSwitchoverNeedsAHealthyPrimary() {
        var h = Harness()
        h.steadyState()
        h.advance(.milliseconds(100))
        h.probe("pg-a", down)
        #expect(h.send(.operatorSwitchover(to: nil, by: "ops")).refusals == [.primaryNotHealthy(primary: "pg-a")])
        var fresh = Harness()
        #expect(fresh.send(.operatorSwitchover(to: nil, by: "ops")).refusals == [.switchoverNeedsMonitoring(state: .discovering)])
    }

    @Test func aCatchUpThatNeverHappensStopsBeforePromotion() {
        var h = Harness()
        h.steadyState()
        h.send(.operatorSwitchover(to: "pg-b", by: "ops"))
        h.send(.stepSucceeded(.bumpEpoch, node: nil, detail: ""))
        h.send(.stepSucceeded(.fence, node: "pg-a", detail: "fenced"))
        var last: [FailoverAction] = []
        for _ in 1...3 {
            last = h.send(.stepFailed(.catchUp, node: "pg-b", error: StepError(.failed, "not caught up")))
            h.send(.timerFired(.retry(.catchUp)))
        }
        #expect(h.kind == .failed)
        #expect(!last.sideEffects.contains { if case .promote = $0 { return true } else { return false } })
    }
}

@Suite struct FailoverWithoutPrimaryTests {
    /// Both nodes standbys: nothing is promoted on its own, and an operator who names the node to
    /// promote gets a failover that fences the other first.
    @Test func anOperatorNamesTheStandbyToPromoteWhenNoPrimaryIsIdentified() {
        var h = Harness()
        h.probe("pg-a", standby(0x2000, streaming: false))
        h.probe("pg-b", standby(0x1000, streaming: false))
        #expect(h.kind == .discovering)
        #expect(h.send(.operatorFailover(to: nil, by: "ops")).contains(.refused(.noPrimaryIdentified)))
        #expect(h.send(.operatorFailover(to: "pg-z", by: "ops")).contains(.refused(.notAStandby(node: "pg-z", primary: "no primary"))))
        let actions = h.send(.operatorFailover(to: "pg-a", by: "ops"))
        #expect(h.kind == .bumpingEpoch)
        guard case .failingOver(let p) = h.machine.state else { Issue.record("not failing over"); return }
        #expect(p.candidate == "pg-a" && p.oldPrimary == "pg-b" && p.manual && !p.planned)
        #expect(actions.contains(.bumpEpoch(from: Epoch(0), to: Epoch(1))))
        #expect(actions.transitionReasons.contains { $0.contains("no primary identified") && $0.contains("pg-b is fenced first") })
    }

    /// The monitor started after the primary died: the standby alone answers. The operator may
    /// promote it; the unreachable node stands in for the old primary (fence, lease wait).
    @Test func aMonitorStartedAfterThePrimaryDiedCanPromoteTheStandbyOnRequest() {
        var h = Harness()
        h.probe("pg-a", down)
        h.probe("pg-b", standby(streaming: false))
        #expect(h.kind == .discovering)
        _ = h.send(.operatorFailover(to: "pg-b", by: "ops"))
        guard case .failingOver(let p) = h.machine.state else { Issue.record("not failing over: \(h.kind)"); return }
        #expect(p.candidate == "pg-b" && p.oldPrimary == "pg-a")
    }
}
