import LifeboatCore

extension Engine {
    public struct Settings: Sendable {
        /// Upper bound for each workflow step (fence, promote, wait writable, repoint, traffic
        /// switch), enforced by the engine whatever the adapter does.
        public var stepTimeout: Duration
        /// Per-step overrides of `stepTimeout`.
        public var stepTimeouts: [FailoverStep: Duration]
        /// How often the scheduler looks for due probes and timers.
        public var tick: Duration
        /// A step result or timer whose decision could not be saved is fed again after this long.
        public var saveRetryDelay: Duration

        /// Called after each workflow step succeeded, before its result is fed to the machine
        /// (tests use it to crash the monitor at a chosen step).
        public var afterStep: (@Sendable (FailoverStep) -> Void)?

        /// The state store is shared by several monitors, one leading at a time (etcd): a failover
        /// in flight that the store's epoch says another monitor started is the cluster's, and the
        /// next leader resumes it instead of calling it superseded.
        public var sharedState = false

        public init(stepTimeout: Duration = .seconds(10), stepTimeouts: [FailoverStep: Duration] = [:], tick: Duration = .milliseconds(5),
                    saveRetryDelay: Duration = .seconds(1), afterStep: (@Sendable (FailoverStep) -> Void)? = nil) {
            self.stepTimeout = stepTimeout
            self.stepTimeouts = stepTimeouts
            self.tick = tick
            self.saveRetryDelay = saveRetryDelay
            self.afterStep = afterStep
        }

        public func timeout(for step: FailoverStep) -> Duration { stepTimeouts[step] ?? stepTimeout }
    }
}
