/// One allowed state change: the plain table `lifeboat fsm --dot` prints and the machine checks
/// every transition against.
public struct Transition: Sendable, Equatable {
    public var from: StateKind
    public var to: StateKind
    public var trigger: String

    public init(_ from: StateKind, _ to: StateKind, _ trigger: String) {
        self.from = from
        self.to = to
        self.trigger = trigger
    }
}

public enum TransitionTable {
    public static let all: [Transition] = [
        Transition(.discovering, .monitoring, "exactly one reachable node accepts writes"),
        Transition(.discovering, .bumpingEpoch, "every reachable node is a standby and an operator named the one to promote"),
        Transition(.monitoring, .confirming, "primary probes failed past the failure threshold"),
        Transition(.monitoring, .discovering, "primary is in recovery (demoted outside Lifeboat)"),
        Transition(.monitoring, .bumpingEpoch, "operator asked for a failover, or (trigger: region) the primary region's application tier is down and another region's serves"),
        Transition(.confirming, .monitoring, "primary answers probes again"),
        Transition(.confirming, .holding, "failure corroborated but a guard rail forbids failover"),
        Transition(.confirming, .bumpingEpoch, "failure corroborated by the standbys; candidate chosen"),
        Transition(.holding, .monitoring, "primary answers probes again"),
        Transition(.holding, .confirming, "a standby streams from the primary again"),
        Transition(.holding, .bumpingEpoch, "guard rail cleared, or operator asked for a failover"),
        Transition(.bumpingEpoch, .fencing, "new epoch stored"),
        Transition(.fencing, .promoting, "old primary fenced, or unreachable with no lease that may still be held"),
        Transition(.fencing, .awaitingLease, "old primary unreachable and its lease may still be held"),
        Transition(.awaitingLease, .promoting, "the old primary's lease ran out or was released: it has fenced itself"),
        Transition(.fencing, .catchingUp, "switchover: old primary fenced; waiting for the candidate to replay its last WAL"),
        Transition(.catchingUp, .promoting, "switchover: the candidate holds everything the old primary wrote"),
        Transition(.catchingUp, .failed, "step kept failing"),
        Transition(.promoting, .waitingWritable, "pg_promote returned"),
        Transition(.waitingWritable, .repointing, "new primary accepts writes; other standbys to repoint"),
        Transition(.waitingWritable, .switchingTraffic, "new primary accepts writes; no other standbys"),
        Transition(.repointing, .switchingTraffic, "every other standby follows the new primary"),
        Transition(.switchingTraffic, .monitoring, "traffic moved; failover complete"),
        Transition(.bumpingEpoch, .failed, "step kept failing"),
        Transition(.fencing, .failed, "step kept failing"),
        Transition(.promoting, .failed, "step kept failing"),
        Transition(.waitingWritable, .failed, "step kept failing"),
        Transition(.repointing, .failed, "step kept failing"),
        Transition(.switchingTraffic, .trafficNotSwitched, "traffic switch kept failing; the promotion stands"),
        Transition(.trafficNotSwitched, .monitoring, "traffic switch succeeded on a later try"),
        Transition(.trafficNotSwitched, .confirming, "the new primary's probes failed past the threshold"),
        Transition(.failed, .discovering, "operator reset"),
        Transition(.trafficNotSwitched, .discovering, "operator reset (traffic pointed by hand)"),
        Transition(.trafficNotSwitched, .bumpingEpoch, "operator asked for a failover"),
    ]

    public static func allows(from: StateKind, to: StateKind) -> Bool {
        all.contains { $0.from == from && $0.to == to }
    }

    /// The table as a Graphviz digraph.
    public static func dot() -> String {
        var lines = ["digraph lifeboat_failover {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
        for state in StateKind.allCases {
            let shape = state == .failed ? " [shape=octagon]" : ""
            lines.append("  \"\(state.rawValue)\"\(shape);")
        }
        for t in all {
            let label = t.trigger.replacingAll("\"", with: "\\\"")
            lines.append("  \"\(t.from.rawValue)\" -> \"\(t.to.rawValue)\" [label=\"\(label)\"];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    /// Foundation-free replacement, so the core stays free of Foundation.
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
