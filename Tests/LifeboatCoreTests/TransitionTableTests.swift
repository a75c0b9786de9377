import Foundation
import LifeboatCore
import LifeboatTestSupport
import Testing

@Suite struct TransitionTableTests {
    @Test func everyStateAppearsInTheTable() {
        for state in StateKind.allCases {
            #expect(TransitionTable.all.contains { $0.from == state || $0.to == state }, "\(state) is unreachable")
        }
    }

    @Test func everyWorkflowStepCanFailButTheTrafficSwitchNeverUndoesThePromotion() {
        // Waiting for a lease runs nothing that can fail: it ends when the lease does.
        for step in FailoverStep.allCases where step != .switchTraffic && step != .awaitLease {
            #expect(TransitionTable.allows(from: step.stateKind, to: .failed))
        }
        #expect(!TransitionTable.allows(from: .awaitingLease, to: .failed))
        #expect(TransitionTable.allows(from: .awaitingLease, to: .promoting))
        #expect(!TransitionTable.allows(from: .switchingTraffic, to: .failed))
        #expect(TransitionTable.allows(from: .switchingTraffic, to: .trafficNotSwitched))
    }

    @Test func dotExportListsEveryTransition() {
        let dot = TransitionTable.dot()
        #expect(dot.hasPrefix("digraph lifeboat_failover {"))
        #expect(dot.contains("\"confirming\" -> \"bumping-epoch\" [label=\"failure corroborated by the standbys; candidate chosen\"];"))
        let edges = dot.split(separator: "\n").filter { $0.contains("->") }
        #expect(edges.count == TransitionTable.all.count)
    }

    /// The core stays pure: no networking, NIO, logging, metrics or wall-clock reads.
    @Test func coreHasNoIOImportsOrWallClock() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let core = root.appendingPathComponent("Sources/LifeboatCore")
        let files = try FileManager.default.subpathsOfDirectory(atPath: core.path).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        let forbidden = ["import Foundation", "import FoundationNetworking", "import NIO", "import Logging", "import Metrics",
                         "import Dispatch", "Date()", "ContinuousClock", "SuspendingClock", "DispatchTime", "gettimeofday", "clock_gettime"]
        for file in files {
            let text = try String(contentsOf: core.appendingPathComponent(file), encoding: .utf8)
            for word in forbidden {
                #expect(!text.contains(word), "\(file) contains \(word)")
            }
        }
    }
}

/// A snapshot the epoch store contradicts is not resumed: the machine stops in `failed` for an
/// operator, with the store's epoch, instead of acting under an epoch another monitor owns.
@Suite struct RestoreAgainstTheStoreTests {
    @Test func aRestoredMachineAtOddsWithTheStoreStopsInsteadOfActing() {
        // A snapshot mid-failover under epoch 2, but the store holds epoch 3 from another monitor.
        let progress = MachineSnapshot.Progress(oldPrimary: "pg-a", candidate: "pg-b", epoch: 2, step: .promote, attempt: 1, pendingRepoints: [],
                                                otherStandbys: [], manual: false, planned: false, reason: "test", startedAgo: 100)
        let snapshot = MachineSnapshot(phase: .failingOver(progress), epoch: 2, paused: false, retired: [], lastFailoverAgo: nil, lastReason: "x")
        let machine = FailoverMachine<ManualClock>(restoring: snapshot, stored: EpochRecord(epoch: Epoch(3), owner: "monitor-b"), owner: "monitor-a",
                                                   topology: twoRegions, detection: .default, policy: .default, now: Instant(offset: .seconds(10)))
        #expect(machine.state.kind == .failed)
        #expect(machine.epoch == Epoch(3))
        #expect(machine.resumeActions() == [.alert(.critical, machine.lastReason)])
        #expect(machine.lastReason.contains("superseded"))
        // The same failover, its epoch stored by this very monitor: resumed.
        let own = FailoverMachine<ManualClock>(restoring: snapshot, stored: EpochRecord(epoch: Epoch(2), owner: "monitor-a"), owner: "monitor-a",
                                               topology: twoRegions, detection: .default, policy: .default, now: Instant(offset: .seconds(10)))
        #expect(own.state.kind == .promoting)
        #expect(own.resumeActions().contains(.promote(node: "pg-b", epoch: Epoch(2))))
    }
}
