/// Why a workflow step failed, as the core reads it: the kind decides (retry, stop at once,
/// adopt another monitor's epoch); the message is for people.
public struct StepError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The engine's deadline for the step passed.
        case timedOut(after: Duration)
        /// The node (or service) could not be reached.
        case unreachable
        /// The epoch store holds a different epoch than this monitor expected: another monitor (or
        /// a failover of another owner) has acted. Never retried.
        case epochConflict(stored: EpochRecord)
        /// Anything else; retried up to the step's attempts.
        case failed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The epoch as the epoch store holds it: the value and the monitor that stored it.
public struct EpochRecord: Sendable, Equatable, Codable, CustomStringConvertible {
    public var epoch: Epoch
    /// The id of the monitor that stored `epoch` (empty for the initial epoch).
    public var owner: String

    public init(epoch: Epoch, owner: String) {
        self.epoch = epoch
        self.owner = owner
    }

    public static let initial = EpochRecord(epoch: .initial, owner: "")

    public var description: String { owner.isEmpty ? "epoch \(epoch)" : "epoch \(epoch) (stored by \(owner))" }
}

extension Epoch: Codable {
    public init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(UInt64.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
