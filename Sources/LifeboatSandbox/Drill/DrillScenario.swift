import Foundation
import LifeboatCore
import LifeboatMonitor

/// What a scenario gets to act on: the sandbox's regions and the running monitor, as built by the
/// same assembly `lifeboat monitor` uses.
public struct DrillContext: Sendable {
    public var cluster: SandboxCluster
    public var monitor: MonitorAssembly
}

/// One kind of drill: the fault it injects and what must follow. New scenarios (regions cut in
/// network namespaces, a monitor killed mid-failover) implement this.
public protocol DrillScenario: Sendable {
    /// `--scenario NAME`.
    var name: String { get }
    /// For the report: "primary killed with SIGKILL".
    var summary: String { get }
    /// The timeline's tag for the first event ("fault", "request").
    var tag: String { get }
    /// A planned move: no acknowledged write may be lost.
    var zeroLoss: Bool { get }
    /// Injects the fault (or makes the request); returns what was done, in words.
    func inject(_ context: DrillContext) async throws -> String
}

/// The primary's postmaster gets SIGKILL, as when its machine or region dies at once.
public struct KillPrimaryScenario: DrillScenario {
    public init() {}
    public var name: String { "kill-primary" }
    public var summary: String { "primary killed with SIGKILL" }
    public var tag: String { "fault" }
    public var zeroLoss: Bool { false }

    public func inject(_ context: DrillContext) async throws -> String {
        let primary = context.cluster.primary
        let pid = try await context.cluster.kill(primary)
        return "SIGKILL to \(primary.name)'s postmaster (pid \(pid))"
    }
}

/// A planned switchover asked for the way an operator does (the API's command path).
public struct SwitchoverScenario: DrillScenario {
    public init() {}
    public var name: String { "switchover" }
    public var summary: String { "planned switchover" }
    public var tag: String { "request" }
    public var zeroLoss: Bool { true }

    public func inject(_ context: DrillContext) async throws -> String {
        let primary = context.cluster.primary.name
        switch await context.monitor.control.command(.operatorSwitchover(to: nil, by: "drill")) {
        case .outcome(.started(let plan)):
            return "switchover requested: \(primary) -> \(plan.candidate) under epoch \(plan.epoch)"
        case .outcome(.refused(let refusal)):
            throw DrillFailure("the monitor refused the switchover: \(refusal)")
        case .outcome(.done(let text)):
            throw DrillFailure("the switchover did not start: \(text)")
        case .notSaved(let why):
            throw DrillFailure("the monitor could not save the switchover: \(why)")
        case .notRunning:
            throw DrillFailure("the monitor is not running")
        case .notLeader:
            throw DrillFailure("the drill's monitor does not lead")
        }
    }
}

public enum DrillScenarios {
    public static let all: [any DrillScenario] = [KillPrimaryScenario(), SwitchoverScenario()]

    public static func named(_ name: String) -> (any DrillScenario)? { all.first { $0.name == name } }
}

public struct DrillFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
