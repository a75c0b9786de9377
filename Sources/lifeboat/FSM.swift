import ArgumentParser
import LifeboatCore

extension Lifeboat {
    struct FSM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fsm",
            abstract: "Print the failover state machine's transition table.",
            discussion: "Render the graph with Graphviz: lifeboat fsm --dot | dot -Tpng -o fsm.png"
        )

        @Flag(help: "Print the table as a Graphviz digraph.")
        var dot = false

        func run() throws {
            if dot {
                print(TransitionTable.dot(), terminator: "")
                return
            }
            let width = StateKind.allCases.map(\.rawValue.count).max() ?? 0
            for t in TransitionTable.all {
                let from = t.from.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
                let to = t.to.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
                print("\(from)  ->  \(to)  \(t.trigger)")
            }
        }
    }
}
