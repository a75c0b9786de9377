/// A node made a streaming standby of the current primary again (`lifeboat rejoin`, `replica init`).

/// When a rejoin may replace the node's data with a fresh base backup.
public enum ReinitChoice: String, Codable, Sendable, Equatable {
    /// pg_rewind only; a node pg_rewind cannot bring back is left stopped, with the reason.
    case never
    /// pg_rewind when possible, otherwise a fresh base backup.
    case fallback
    /// A fresh base backup whatever the node holds (`lifeboat replica init`).
    case always
}

/// What a rejoin did, step by step, and what the old timeline held that the cluster no longer has.
public struct RejoinReport: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable {
        /// Already a streaming standby of the primary: nothing done.
        case alreadyStreaming = "already-streaming"
        /// Its WAL ends where the primary's timeline forked, or before: restarted as a standby as it is.
        case noRewindNeeded = "no-rewind-needed"
        case rewind
        case reinit
    }

    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        public var milliseconds: Int64
        public var detail: String

        public init(name: String, milliseconds: Int64, detail: String) {
            self.name = name
            self.milliseconds = milliseconds
            self.detail = detail
        }
    }

    /// What only the old timeline held: the WAL from the fork to where the node's WAL ended.
    public struct Discarded: Codable, Sendable, Equatable {
        /// Where the primary's timeline forked from this node's (`pg_rewind`'s divergence point).
        public var forkLSN: String
        public var forkTimeline: UInt32
        /// The WAL only this node had: `from` (the fork) up to `to` (its last record's end).
        public var from: String
        public var to: String
        public var bytes: UInt64
        /// Commit records in that range: transactions that existed only here (nil: pg_waldump could
        /// not read the range; `countError` says why).
        public var transactions: Int?
        public var countError: String?
        /// Their xids (at most the first 100).
        public var transactionIds: [UInt32]

        public init(forkLSN: String, forkTimeline: UInt32, from: String, to: String, bytes: UInt64, transactions: Int?, transactionIds: [UInt32], countError: String? = nil) {
            self.countError = countError
            self.forkLSN = forkLSN
            self.forkTimeline = forkTimeline
            self.from = from
            self.to = to
            self.bytes = bytes
            self.transactions = transactions
            self.transactionIds = transactionIds
        }

        enum CodingKeys: String, CodingKey {
            case from, to, bytes, transactions
            case forkLSN = "fork_lsn"
            case forkTimeline = "fork_timeline"
            case transactionIds = "transaction_ids"
            case countError = "count_error"
        }
    }

    public var node: String
    public var primary: String
    public var method: Method
    public var discarded: Discarded?
    public var phases: [Phase]
    /// True once the node's WAL receiver streams from the primary.
    public var streaming: Bool
    public var detail: String

    public init(node: String, primary: String, method: Method, discarded: Discarded?, phases: [Phase], streaming: Bool, detail: String) {
        self.node = node
        self.primary = primary
        self.method = method
        self.discarded = discarded
        self.phases = phases
        self.streaming = streaming
        self.detail = detail
    }

    /// One sentence for the journal and the CLI.
    public var summary: String {
        let took = phases.reduce(Int64(0)) { $0 + $1.milliseconds }
        var text = "\(node) rejoined as a standby of \(primary) (\(method.rawValue), \(took) ms)"
        if let d = discarded {
            let count = d.transactions.map { "\($0) transaction\($0 == 1 ? "" : "s") only the old timeline had" } ?? "transactions not counted: \(d.countError ?? "pg_waldump failed")"
            text += "; discarded WAL \(d.from)–\(d.to) (\(d.bytes) bytes, \(count)) after the fork at \(d.forkLSN) on timeline \(d.forkTimeline)"
        }
        if !streaming { text += "; not streaming yet" }
        return text
    }
}

/// A refused or failed rejoin, with the step it stopped at.
public struct RejoinFailure: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    public var step: String
    public var error: String
    /// The steps that did finish.
    public var phases: [RejoinReport.Phase]

    public init(step: String, error: String, phases: [RejoinReport.Phase]) {
        self.step = step
        self.error = error
        self.phases = phases
    }

    public var description: String { "\(step): \(error)" }
}

