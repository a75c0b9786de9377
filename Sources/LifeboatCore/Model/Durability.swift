/// `durability:`: how many standbys must have a commit before the primary acknowledges it. Lifeboat
/// keeps the primary's `synchronous_standby_names` to it, and moves it to the new primary after a
/// failover or switchover.
public struct DurabilityPolicy: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// No standby waited for (`synchronous_standby_names = ''`): a failover may lose the last
        /// commits the standby had not received (the lag gate, `failover.max_lag_*`, bounds how many).
        case async
        /// One standby must have flushed each commit (`ANY 1 (*)`): a failover to the most advanced
        /// standby loses no acknowledged write.
        case sync
        /// A majority of the database nodes, the primary included (`ANY n/2 (*)`).
        case quorum
    }

    /// What the primary does while fewer standbys stream than the mode needs.
    public enum WhenShort: String, Sendable, Equatable, CaseIterable {
        /// Commits wait until enough standbys stream again: no acknowledged write is ever at risk.
        case wait
        /// Commits go on with the standbys there are (none: asynchronously), with an alert.
        case async
    }

    public var mode: Mode
    public var whenShort: WhenShort
    /// False without a `durability:` section: Lifeboat leaves synchronous_standby_names alone.
    public var managed: Bool

    public init(mode: Mode = .async, whenShort: WhenShort = .wait, managed: Bool = true) {
        self.mode = mode
        self.whenShort = whenShort
        self.managed = managed
    }

    public static let `default` = DurabilityPolicy(managed: false)

    /// How many standbys must confirm each commit, for `databaseNodes` nodes in all.
    public func required(databaseNodes: Int) -> Int {
        switch mode {
        case .async: 0
        case .sync: 1
        case .quorum: max(1, databaseNodes / 2)
        }
    }

    /// The setting the primary should have with `streaming` standbys streaming now, and whether that
    /// is short of the mode (degraded to fewer, or to none).
    public func synchronousStandbyNames(databaseNodes: Int, streaming: Int) -> (value: String, degraded: Bool) {
        let needed = required(databaseNodes: databaseNodes)
        guard needed > 0 else { return ("", false) }
        if streaming >= needed || whenShort == .wait { return ("ANY \(needed) (*)", streaming < needed) }
        return (streaming > 0 ? "ANY \(streaming) (*)" : "", true)
    }
}
