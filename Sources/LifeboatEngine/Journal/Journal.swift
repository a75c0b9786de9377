import LifeboatCore
import LifeboatPorts
import Synchronization

/// One recorded decision, transition, step or alert, with the engine-clock instant it happened.
public struct JournalEntry<Instant: InstantProtocol & Sendable>: Sendable {
    public typealias Kind = JournalKind

    public var sequence: Int
    public var at: Instant
    public var epoch: Epoch
    public var kind: Kind
    public var message: String

    public init(sequence: Int, at: Instant, epoch: Epoch, kind: Kind, message: String) {
        self.sequence = sequence
        self.at = at
        self.epoch = epoch
        self.kind = kind
        self.message = message
    }
}

/// Every decision and step with its reason, in order, in memory: what drills and tests read (with
/// engine-clock instants). The persistent journal is the state store's.
public final class InMemoryJournal<Instant: InstantProtocol & Sendable>: Sendable {
    private let storage = Mutex<[JournalEntry<Instant>]>([])

    public init() {}

    public func append(at: Instant, epoch: Epoch, kind: JournalKind, message: String) {
        storage.withLock { entries in
            entries.append(JournalEntry(sequence: entries.count + 1, at: at, epoch: epoch, kind: kind, message: message))
        }
    }

    public var entries: [JournalEntry<Instant>] { storage.withLock { $0 } }
}
