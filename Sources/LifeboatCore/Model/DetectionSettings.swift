/// How the monitor decides that a node is down or back.
public struct DetectionSettings: Sendable, Equatable {
    /// Time between probes of a healthy node.
    public var interval: Duration
    /// A probe that has not answered after this long counts as failed.
    public var timeout: Duration
    /// Once a probe fails, the node is re-probed at this shorter interval until its verdict is
    /// decided, so a dead primary is confirmed quickly without probing everything that often.
    public var suspectInterval: Duration
    /// Consecutive failed probes that turn a node's verdict to unhealthy.
    public var failureThreshold: Int
    /// Consecutive good probes that turn an unhealthy node back to healthy.
    public var recoveryThreshold: Int

    public init(
        interval: Duration = .milliseconds(500),
        timeout: Duration = .seconds(1),
        suspectInterval: Duration = .milliseconds(100),
        failureThreshold: Int = 3,
        recoveryThreshold: Int = 2
    ) {
        self.interval = interval
        self.timeout = timeout
        self.suspectInterval = suspectInterval
        self.failureThreshold = failureThreshold
        self.recoveryThreshold = recoveryThreshold
    }

    public static let `default` = DetectionSettings()
}
