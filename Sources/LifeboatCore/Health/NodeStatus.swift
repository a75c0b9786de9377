/// What a standby's WAL receiver is doing (`pg_stat_wal_receiver`).
public enum WALReceiverState: Sendable, Equatable {
    /// Receiving WAL from `upstream` (host as the standby sees it).
    case streaming(upstream: String?)
    /// No WAL receiver, or one that is not streaming (`status` as PostgreSQL reports it, if any).
    case notStreaming(status: String?)
    /// The node is not a standby.
    case notApplicable
}

/// One successful probe of a PostgreSQL node.
public struct NodeStatus: Sendable, Equatable {
    public var inRecovery: Bool
    /// `pg_current_wal_lsn()` on a primary.
    public var currentLSN: LSN?
    /// `pg_last_wal_receive_lsn()` on a standby: WAL it holds and will replay on promotion.
    public var receiveLSN: LSN?
    /// `pg_last_wal_replay_lsn()` on a standby.
    public var replayLSN: LSN?
    /// How far replay trails (zero when everything received is replayed).
    public var replayLag: Duration?
    public var walReceiver: WALReceiverState
    /// Standbys streaming from this node (`pg_stat_replication`).
    public var connectedReplicas: Int
    /// `default_transaction_read_only` is on: the node has been fenced.
    public var readOnly: Bool
    /// The timeline the node's data is on: a primary's current timeline; a standby's last received
    /// (or, not streaming, last checkpoint's) timeline. Nil when unknown.
    public var timeline: UInt32?

    public init(
        inRecovery: Bool, currentLSN: LSN? = nil, receiveLSN: LSN? = nil, replayLSN: LSN? = nil,
        replayLag: Duration? = nil, walReceiver: WALReceiverState = .notApplicable,
        connectedReplicas: Int = 0, readOnly: Bool = false, timeline: UInt32? = nil
    ) {
        self.timeline = timeline
        self.inRecovery = inRecovery
        self.currentLSN = currentLSN
        self.receiveLSN = receiveLSN
        self.replayLSN = replayLSN
        self.replayLag = replayLag
        self.walReceiver = walReceiver
        self.connectedReplicas = connectedReplicas
        self.readOnly = readOnly
    }

    /// The position this node's data will reach if it is (or is promoted to) primary.
    public var durableLSN: LSN? {
        if !inRecovery { return currentLSN }
        switch (receiveLSN, replayLSN) {
        case let (r?, p?): return max(r, p)
        case let (r?, nil): return r
        case let (nil, p?): return p
        case (nil, nil): return nil
        }
    }

    /// Accepts writes: not in recovery and not fenced read-only.
    public var isWritablePrimary: Bool { !inRecovery && !readOnly }

    public var isStreaming: Bool {
        if case .streaming = walReceiver { return true }
        return false
    }
}

/// Why a probe got no status. Decisions read `kind`; `detail` is for people.
public struct ProbeFailure: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The host answered with a reset: nothing listens (a crashed server, a stopped service).
        case refused
        /// No answer within the timeout: a silent network cut, a black hole, a hung server.
        case timedOut = "timed-out"
        /// The network says the host cannot be reached (no route, host down).
        case unreachable
        /// The server answered but refused us (authentication, too many connections, an SQL error).
        case rejected
        /// Anything else.
        case failed
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }
}

/// The outcome of one probe.
public enum ProbeResult: Sendable, Equatable {
    case reachable(NodeStatus)
    case unreachable(ProbeFailure)

    public var status: NodeStatus? {
        if case .reachable(let status) = self { return status }
        return nil
    }

    public var failure: ProbeFailure? {
        if case .unreachable(let failure) = self { return failure }
        return nil
    }
}
