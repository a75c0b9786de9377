import LifeboatCore
import LifeboatTestSupport

typealias Instant = ManualClock.Instant

let threeRegions = Topology(
    regions: [Region(name: "us-east", priority: 1), Region(name: "eu-west", priority: 2), Region(name: "ap-south", priority: 3)],
    databaseNodes: [
        DatabaseNode(name: "pg-a", region: "us-east"),
        DatabaseNode(name: "pg-b", region: "eu-west"),
        DatabaseNode(name: "pg-c", region: "ap-south"),
    ]
)

let twoRegions = Topology(
    regions: [Region(name: "us-east", priority: 1), Region(name: "eu-west", priority: 2)],
    databaseNodes: [DatabaseNode(name: "pg-a", region: "us-east"), DatabaseNode(name: "pg-b", region: "eu-west")]
)

func primary(_ lsn: UInt64 = 0x1000, readOnly: Bool = false) -> ProbeResult {
    .reachable(NodeStatus(inRecovery: false, currentLSN: LSN(lsn), connectedReplicas: 1, readOnly: readOnly))
}

func standby(_ lsn: UInt64 = 0x1000, streaming: Bool, lag: Duration = .zero) -> ProbeResult {
    .reachable(NodeStatus(
        inRecovery: true, receiveLSN: LSN(lsn), replayLSN: LSN(lsn), replayLag: lag,
        walReceiver: streaming ? .streaming(upstream: "10.0.0.1") : .notStreaming(status: nil)
    ))
}

let down = ProbeResult.unreachable(ProbeFailure(.refused, "connection refused"))

/// Drives a machine with a manual notion of now and collects every transition it makes.
struct Harness {
    var machine: FailoverMachine<ManualClock>
    var now = Instant(offset: .zero)
    var transitions: [(StateKind, StateKind)] = []

    init(_ topology: Topology = twoRegions, policy: FailoverPolicy = .default, detection: DetectionSettings = .default) {
        machine = FailoverMachine(topology: topology, detection: detection, policy: policy)
    }

    @discardableResult
    mutating func send(_ event: FailoverEvent) -> [FailoverAction] {
        let actions = machine.handle(event, now: now)
        for case .transition(let from, let to, _) in actions { transitions.append((from, to)) }
        return actions
    }

    @discardableResult
    mutating func probe(_ node: String, _ result: ProbeResult) -> [FailoverAction] {
        send(.probed(node: node, result: result))
    }

    mutating func advance(_ d: Duration) { now = now.advanced(by: d) }

    /// Reaches `monitoring(pg-a)` with every standby streaming.
    mutating func steadyState() {
        probe("pg-a", primary())
        for node in machine.topology.databaseNodes.map(\.name) where node != "pg-a" {
            probe(node, standby(streaming: true))
        }
    }

    /// The primary fails `failureThreshold` probes in a row.
    @discardableResult
    mutating func primaryFails(_ node: String = "pg-a") -> [FailoverAction] {
        var actions: [FailoverAction] = []
        for _ in 0..<machine.detection.failureThreshold {
            advance(.milliseconds(100))
            actions += probe(node, down)
        }
        return actions
    }

    var kind: StateKind { machine.state.kind }
}

extension [FailoverAction] {
    var transitionReasons: [String] {
        compactMap { if case .transition(_, _, let reason) = $0 { return reason } else { return nil } }
    }
    var decisions: [String] {
        compactMap { if case .decision(let text) = $0 { return text } else { return nil } }
    }
    var refusals: [CommandRefusal] {
        compactMap { if case .refused(let refusal) = $0 { return refusal } else { return nil } }
    }
    var alerts: [String] {
        compactMap { if case .alert(_, let text) = $0 { return text } else { return nil } }
    }
    var sideEffects: [FailoverAction] {
        filter {
            switch $0 {
            case .bumpEpoch, .fence, .fenceForSwitchover, .catchUp, .promote, .waitWritable, .repoint, .switchTraffic: return true
            case .transition, .decision, .refused, .leaseAnswer, .probe, .scheduleTimer, .alert: return false
            }
        }
    }
}
