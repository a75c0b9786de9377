import LifeboatCore

/// What a journal line records.
public enum JournalKind: Sendable, Equatable {
    case transition(from: StateKind, to: StateKind)
    case decision
    case stepStarted(FailoverStep, node: String?)
    case stepSucceeded(FailoverStep, node: String?)
    /// A milestone inside a step (for the traffic switch: record changed, answer verified).
    case stepProgress(FailoverStep)
    case stepFailed(FailoverStep, node: String?)
    case alert(AlertSeverity)
    case operatorCommand

    /// How the persistent journal and the API name this kind, with the step and node it concerns.
    public var stored: (kind: String, step: String?, node: String?) {
        switch self {
        case .transition(let from, let to): return ("transition \(from.rawValue) -> \(to.rawValue)", nil, nil)
        case .decision: return ("decision", nil, nil)
        case .stepStarted(let step, let node): return ("step-started", step.rawValue, node)
        case .stepSucceeded(let step, let node): return ("step-succeeded", step.rawValue, node)
        case .stepProgress(let step): return ("step-progress", step.rawValue, nil)
        case .stepFailed(let step, let node): return ("step-failed", step.rawValue, node)
        case .alert(let severity): return ("alert \(severity.rawValue)", nil, nil)
        case .operatorCommand: return ("operator", nil, nil)
        }
    }
}

extension JournalKind {
    /// The kind a stored line records (the inverse of `stored`; nil for a code this version does not know).
    public init?(stored kind: String, step: String?, node: String?) {
        let parsedStep = step.flatMap(FailoverStep.init(rawValue:))
        switch kind {
        case "decision": self = .decision
        case "operator": self = .operatorCommand
        case "step-started": guard let parsedStep else { return nil }; self = .stepStarted(parsedStep, node: node)
        case "step-succeeded": guard let parsedStep else { return nil }; self = .stepSucceeded(parsedStep, node: node)
        case "step-progress": guard let parsedStep else { return nil }; self = .stepProgress(parsedStep)
        case "step-failed": guard let parsedStep else { return nil }; self = .stepFailed(parsedStep, node: node)
        default:
            let words = kind.split(separator: " ").map(String.init)
            if words.count == 2, words[0] == "alert", let severity = AlertSeverity(rawValue: words[1]) {
                self = .alert(severity)
            } else if words.count == 4, words[0] == "transition", words[2] == "->",
                      let from = StateKind(rawValue: words[1]), let to = StateKind(rawValue: words[3]) {
                self = .transition(from: from, to: to)
            } else {
                return nil
            }
        }
    }
}

/// One line for the persistent journal.
public struct JournalLine: Sendable, Equatable {
    public var epoch: Epoch
    public var kind: JournalKind
    public var message: String

    public init(epoch: Epoch, kind: JournalKind, message: String) {
        self.epoch = epoch
        self.kind = kind
        self.message = message
    }
}

/// A journal line as stored, with its sequence number and wall-clock time.
public struct StoredJournalLine: Sendable, Equatable {
    public var seq: Int64
    /// Seconds since 1970 (UTC).
    public var unixTime: Double
    public var epoch: UInt64
    public var kind: String
    public var step: String?
    public var node: String?
    public var message: String

    public init(seq: Int64, unixTime: Double, epoch: UInt64, kind: String, step: String?, node: String?, message: String) {
        self.seq = seq
        self.unixTime = unixTime
        self.epoch = epoch
        self.kind = kind
        self.step = step
        self.node = node
        self.message = message
    }
}

/// Where a monitor keeps what must survive a restart: the machine's snapshot and the journal.
/// Async, so a networked store (etcd) can implement it.
public protocol StateStore: Sendable {
    /// The last saved snapshot and how long ago (wall time) it was saved; nil on first start.
    func loadSnapshot() async throws -> (snapshot: MachineSnapshot, age: Duration)?
    /// Saves a decision: the machine's snapshot and the journal lines that explain it, together.
    /// The engine carries out the decision's actions only after this returned.
    func save(_ snapshot: MachineSnapshot, journal: [JournalLine]) async throws
    /// Appends journal lines that record no decision (a step's start and result, an operator command).
    func append(_ journal: [JournalLine]) async throws
    /// Journal lines after sequence number `after`, oldest first, at most `limit`.
    func journal(after: Int64, limit: Int) async throws -> [StoredJournalLine]
    /// The newest `limit` journal lines, oldest first.
    func newestJournal(limit: Int) async throws -> [StoredJournalLine]
}
