/// Guard rails for automatic failover.
public struct FailoverPolicy: Sendable, Equatable {
    /// When false, a confirmed primary failure raises an alert and waits for `lifeboat failover`.
    public var automatic: Bool
    /// A standby further behind the last known primary position than this is not promoted automatically.
    public var maxLagBytes: UInt64
    /// A standby whose replay is older than this is not promoted automatically.
    public var maxLagSeconds: Duration
    /// After a failover, no automatic failover for this long (prevents flapping).
    public var cooldown: Duration
    /// Attempts per workflow step before the failover stops in the `failed` state.
    public var stepAttempts: Int
    /// Delay before the first retry of a failed step; doubles each further retry.
    public var retryDelay: Duration
    /// After the traffic switch exhausted its attempts, it is tried again this often until it
    /// succeeds or an operator points traffic by hand.
    public var trafficRetryInterval: Duration
    /// The primary's lease (nil: no lease). The primary's agent renews it; a standby is promoted
    /// only once the lease has expired or been released (the old primary has fenced itself).
    public var leaseTTL: Duration?
    /// Failsafe mode (with a lease): when the lease cannot be renewed because the monitor is
    /// unreachable, the primary keeps taking writes as long as every standby's agent promises, for
    /// a TTL at a time, not to let itself be promoted. A promise vetoes the failover; a candidate's
    /// agent is sealed (it refuses further promises) and its last promise waited out before promotion.
    public var failsafe: Bool
    /// Which former primaries the monitor makes standbys again on its own (`failover.rejoin`).
    public var rejoin: RejoinPolicy
    /// `durability:`: synchronous replication as the monitor keeps it on the primary.
    public var durability: DurabilityPolicy = .default
    /// `replication_slots:`: the physical slots the monitor keeps on the primary for the other nodes.
    public var slots: SlotPolicy = .default
    /// `failover.trigger`: what makes the monitor fail over on its own.
    public var trigger: FailoverTrigger = .database
    /// `failover.min_healthy`: a region can serve when at least this many of its application nodes
    /// answer their health check.
    public var minHealthy: Int = 1

    public init(
        automatic: Bool = true,
        maxLagBytes: UInt64 = 16 * 1024 * 1024,
        maxLagSeconds: Duration = .seconds(30),
        cooldown: Duration = .seconds(600),
        stepAttempts: Int = 3,
        retryDelay: Duration = .milliseconds(200),
        trafficRetryInterval: Duration = .seconds(30),
        leaseTTL: Duration? = nil,
        failsafe: Bool = true
    ) {
        self.failsafe = failsafe
        self.rejoin = .switchover
        self.leaseTTL = leaseTTL
        self.automatic = automatic
        self.maxLagBytes = maxLagBytes
        self.maxLagSeconds = maxLagSeconds
        self.cooldown = cooldown
        self.stepAttempts = stepAttempts
        self.retryDelay = retryDelay
        self.trafficRetryInterval = trafficRetryInterval
    }

    public static let `default` = FailoverPolicy()
}

/// `failover.trigger`: what makes the monitor fail over on its own.
public enum FailoverTrigger: String, Sendable, Equatable, CaseIterable {
    /// The primary PostgreSQL is down (corroborated); the application tier only informs.
    case database
    /// Also: the primary region's application tier is down (fewer than `min_healthy` nodes answer,
    /// seen from the monitor and corroborated by another region's agent) while another region's
    /// application tier serves. Database and traffic move together.
    case region
}

/// `failover.rejoin`: when the monitor rejoins a former primary as a standby of the new one by itself.
public enum RejoinPolicy: String, Sendable, Equatable, CaseIterable {
    /// Never: `lifeboat rejoin NODE` only.
    case manual
    /// The old primary of a switchover (fenced fully caught up: nothing of its own is discarded).
    case switchover
    /// Also the old primary of a failover, once its agent answers, with pg_rewind; a node pg_rewind
    /// cannot bring back waits for an operator.
    case auto
    /// As `auto`, and a fresh pg_basebackup where pg_rewind cannot be used.
    case reinit
}
