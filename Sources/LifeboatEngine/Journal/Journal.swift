import LifeboatCore
import Synchronization

/// One recorded decision, transition, step or alert.
public struct JournalEntry<Instant: InstantProtocol & Sendable>: Sendable {
    public enum Kind: Sendable, Equatable {
        case transition(from: StateKind, to: StateKind)
        case decision
        case stepStarted(FailoverStep, node: String?)
        case stepSucceeded(FailoverStep, node: String?)
        /// A milestone inside a step (for the traffic switch: record changed, answer verified).
        case stepProgress(FailoverStep)
        case stepFailed(FailoverStep, node: String?)
        case alert(AlertSeverity)
        case operatorCommand
    }

    public var sequence: Int
    public var at: Instant
    public var epoch: Epoch
    public var kind: Kind
    public var message: String
}

/// Every decision and step with its reason, in order. In memory for now; persistence comes with
/// the monitor daemon.
public final class InMemoryJournal<Instant: InstantProtocol & Sendable>: Sendable {
    private let storage = Mutex<[JournalEntry<Instant>]>([])
    /// Also writes each entry here (the persistent journal), when set.
    private let sink: (@Sendable (Epoch, JournalEntry<Instant>.Kind, String) -> Void)?

    public init(sink: (@Sendable (Epoch, JournalEntry<Instant>.Kind, String) -> Void)? = nil) {
        self.sink = sink
    }

    public func append(at: Instant, epoch: Epoch, kind: JournalEntry<Instant>.Kind, message: String) {
        storage.withLock { entries in
            entries.append(JournalEntry(sequence: entries.count + 1, at: at, epoch: epoch, kind: kind, message: message))
        }
        sink?(epoch, kind, message)
    }

    public var entries: [JournalEntry<Instant>] { storage.withLock { $0 } }
}
