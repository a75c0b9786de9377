import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Probes every application node's health endpoint on a jittered schedule and keeps the latest
/// result for the status API and `lifeboat_service_up`.
public final class ServiceMonitor: Service, Sendable {
    public struct Target: Sendable {
        public var service: String
        public var node: String
        public var region: String
        public var check: any HealthCheck

        public init(service: String, node: String, region: String, check: any HealthCheck) {
            self.service = service
            self.node = node
            self.region = region
            self.check = check
        }
    }

    public struct Observation: Sendable {
        public var target: Target
        public var result: CheckResult?
    }

    /// A node's verdict with hysteresis: down after `failureThreshold` failed checks in a row, up
    /// again after `recoveryThreshold` good ones; nil until the first check decides.
    struct Streak {
        var up: Bool?
        var failures = 0
        var successes = 0
    }

    private let targets: [Target]
    private let interval: Duration
    private let timeout: Duration
    private let failureThreshold: Int
    private let recoveryThreshold: Int
    private let logger: Logger
    private let latest = Mutex<[String: CheckResult]>([:])
    private let streaks = Mutex<[String: Streak]>([:])
    private let gauges: [String: Gauge]

    /// While a node's verdict is undecided (a check failed on an up node, or succeeded on a down
    /// one), it is checked this often instead of every `interval`, as database nodes are re-probed.
    private let suspectInterval: Duration?

    public init(targets: [Target], interval: Duration, timeout: Duration, failureThreshold: Int = 1, recoveryThreshold: Int = 1,
                suspectInterval: Duration? = nil, logger: Logger) {
        self.suspectInterval = suspectInterval
        self.targets = targets
        self.interval = interval
        self.timeout = timeout
        self.failureThreshold = max(1, failureThreshold)
        self.recoveryThreshold = max(1, recoveryThreshold)
        self.logger = logger
        gauges = Dictionary(uniqueKeysWithValues: targets.map {
            ($0.node, Gauge(label: "lifeboat_service_up", dimensions: [("service", $0.service), ("node", $0.node), ("region", $0.region)]))
        })
    }

    /// Each node's verdict (true: up), for nodes a check has decided.
    public var verdicts: [String: Bool] { streaks.withLock { $0.compactMapValues(\.up) } }

    public var observations: [Observation] {
        let results = latest.withLock { $0 }
        return targets.map { Observation(target: $0, result: results[$0.node]) }
    }

    public func run() async throws {
        // A service that returns would stop the whole ServiceGroup: with nothing to check, wait.
        guard !targets.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        try await withThrowingDiscardingTaskGroup { group in
            for target in targets {
                group.addTask { try await self.watch(target) }
            }
        }
    }

    private func watch(_ target: Target) async throws {
        while !Task.isCancelledOrShuttingDown {
            let result = await target.check.check(timeout: timeout)
            let before = latest.withLock { state in
                defer { state[target.node] = result }
                return state[target.node]
            }
            gauges[target.node]?.record(result.ok ? 1 : 0)
            let undecided = streaks.withLock { all -> Bool in
                var streak = all[target.node] ?? Streak()
                if result.ok {
                    streak.successes += 1
                    streak.failures = 0
                    if streak.up == nil || (streak.up == false && streak.successes >= recoveryThreshold) { streak.up = true }
                } else {
                    streak.failures += 1
                    streak.successes = 0
                    if streak.up != false, streak.failures >= (streak.up == nil ? 1 : failureThreshold) { streak.up = false }
                }
                all[target.node] = streak
                return (streak.up == true && streak.failures > 0) || (streak.up == false && streak.successes > 0)
            }
            if before?.ok != result.ok {
                logger.notice("\(target.node) \(result.ok ? "healthy" : "unhealthy")\(result.error.map { ": \($0)" } ?? "")",
                              metadata: ["service": "\(target.service)", "node": "\(target.node)", "region": "\(target.region)"])
            }
            // Jitter of ±10% keeps many monitors and nodes from probing in lockstep.
            let jitter = Double.random(in: 0.9...1.1)
            try await Task.sleep(for: (undecided ? suspectInterval ?? interval : interval) * jitter)
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
