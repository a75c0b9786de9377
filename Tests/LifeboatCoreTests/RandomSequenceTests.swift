import LifeboatCore
import LifeboatTestSupport
import Testing

/// Long seeded random event sequences (probes of every kind, step results in and out of turn,
/// timers, operator commands, pauses): the machine must never make a transition outside the
/// table (it would refuse it, count it and stop in `failed`; the count must stay zero), and the
/// epoch must never go backwards.
@Suite struct RandomSequenceTests {
    @Test(arguments: 1...24)
    func randomSequencesStayInsideTheTransitionTable(seed: UInt64) {
        var rng = SplitMix64(state: seed)
        var harness = Harness(seed % 2 == 0 ? threeRegions : twoRegions)
        let nodes = harness.machine.topology.databaseNodes.map(\.name)
        var epoch = harness.machine.epoch
        var lsn: UInt64 = 0x1000
        for _ in 0..<4000 {
            harness.advance(.milliseconds(Int64(rng.next() % 900)))
            lsn += rng.next() % 64
            let node = nodes.randomElement(using: &rng)!
            let step = FailoverStep.allCases.randomElement(using: &rng)!
            switch rng.next() % 16 {
            case 0...2: harness.probe(node, primary(lsn))
            case 3: harness.probe(node, primary(lsn, readOnly: true))
            case 4...6: harness.probe(node, standby(lsn - rng.next() % 32, streaming: true))
            case 7: harness.probe(node, standby(lsn - rng.next() % 4096, streaming: false, lag: .seconds(Int64(rng.next() % 60))))
            case 8...9: harness.probe(node, down)
            case 10: harness.send(.stepSucceeded(step, node: Bool.random(using: &rng) ? node : nil, detail: "ok"))
            case 11: harness.send(.stepFailed(step, node: Bool.random(using: &rng) ? node : nil, error: StepError(.failed, "boom")))
            case 12: harness.send(.timerFired(.retry(step)))
            case 13: harness.send(Bool.random(using: &rng) ? .pause(by: "t") : .resume(by: "t"))
            case 14: harness.send(Bool.random(using: &rng) ? .operatorFailover(to: Bool.random(using: &rng) ? node : nil, by: "t")
                                                          : .operatorSwitchover(to: Bool.random(using: &rng) ? node : nil, by: "t"))
            default: harness.send(.operatorReset(by: "t"))
            }
            #expect(harness.machine.epoch >= epoch, "the epoch went backwards")
            epoch = harness.machine.epoch
            // Each promotion names exactly one epoch, and it is the machine's next one.
            if case .failingOver(let p) = harness.machine.state { #expect(p.epoch >= harness.machine.epoch) }
        }
        #expect(harness.machine.invariantViolations == 0, "a transition outside the table was attempted")
        for (from, to) in harness.transitions {
            #expect(TransitionTable.allows(from: from, to: to), "\(from) -> \(to)")
        }
        // The walk goes through the failover workflow, not only around monitoring.
        let visited = Set(harness.transitions.map(\.1))
        #expect(visited.contains(.bumpingEpoch) && visited.contains(.fencing), "visited only \(visited)")
    }
}
