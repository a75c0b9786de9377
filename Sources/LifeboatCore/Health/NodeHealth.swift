public enum HealthVerdict: String, Sendable, Equatable, CaseIterable {
    /// Not enough probes yet.
    case unknown
    case healthy
    case unhealthy
}

/// Turns a node's probe samples into a verdict with consecutive-failure and recovery thresholds,
/// so one lost probe (a blip) never changes the verdict.
public struct NodeHealth<Instant: InstantProtocol & Sendable>: Sendable {
    public private(set) var verdict: HealthVerdict = .unknown
    public private(set) var consecutiveFailures = 0
    public private(set) var consecutiveSuccesses = 0
    /// The latest successful probe, kept while the node is unreachable.
    public private(set) var lastStatus: NodeStatus?
    public private(set) var lastStatusAt: Instant?
    public private(set) var lastResult: ProbeResult?
    public private(set) var lastObservedAt: Instant?
    /// Consecutive good probes that found the node in recovery (a standby).
    public private(set) var consecutiveInRecovery = 0

    public init() {}

    /// Records one probe and returns the new verdict when it changed.
    public mutating func record(_ result: ProbeResult, at now: Instant, settings: DetectionSettings) -> HealthVerdict? {
        lastResult = result
        lastObservedAt = now
        let before = verdict
        switch result {
        case .reachable(let status):
            lastStatus = status
            lastStatusAt = now
            consecutiveInRecovery = status.inRecovery ? consecutiveInRecovery + 1 : 0
            consecutiveSuccesses += 1
            consecutiveFailures = 0
            switch verdict {
            case .unknown:
                verdict = .healthy
            case .unhealthy:
                if consecutiveSuccesses >= settings.recoveryThreshold { verdict = .healthy }
            case .healthy:
                break
            }
        case .unreachable:
            consecutiveFailures += 1
            consecutiveSuccesses = 0
            switch verdict {
            case .unknown, .healthy:
                if consecutiveFailures >= settings.failureThreshold { verdict = .unhealthy }
            case .unhealthy:
                break
            }
        }
        return verdict == before ? nil : verdict
    }

    /// The node's role just changed (it was promoted): earlier role observations no longer count.
    public mutating func roleChanged() { consecutiveInRecovery = 0 }

    /// Reachable on the latest probe, with the status it reported.
    public var currentStatus: NodeStatus? { lastResult?.status }

    /// A failing probe has not yet decided the verdict: re-probe soon.
    public var isSuspect: Bool { consecutiveFailures > 0 && verdict != .unhealthy }
}
