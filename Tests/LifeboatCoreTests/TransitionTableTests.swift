import Foundation
import LifeboatCore
import Testing

@Suite struct TransitionTableTests {
    @Test func everyStateAppearsInTheTable() {
        for state in StateKind.allCases {
            #expect(TransitionTable.all.contains { $0.from == state || $0.to == state }, "\(state) is unreachable")
        }
    }

    @Test func everyWorkflowStepCanFailButTheTrafficSwitchNeverUndoesThePromotion() {
        for step in FailoverStep.allCases where step != .switchTraffic {
            #expect(TransitionTable.allows(from: step.stateKind, to: .failed))
        }
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
