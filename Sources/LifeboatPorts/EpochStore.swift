import LifeboatCore
import Synchronization

/// Where the fencing epoch is kept. Storing it is the first step of every failover, and it is a
/// compare-and-swap: a failover stores its epoch only if the store still holds the epoch the
/// monitor last knew, so two monitors (or a resumed failover of another owner) can never both
/// act under one epoch.
public protocol EpochStore: Sendable {
    /// The stored epoch and the monitor that stored it (`EpochRecord.initial` when none was).
    func load() async throws -> EpochRecord
    /// Stores `new` owned by `owner` if the store holds `expected`. Storing again what the store
    /// already holds for the same owner succeeds (a resumed failover). Anything else throws
    /// `EpochConflict` with what the store holds.
    func compareAndSwap(expected: Epoch, new: Epoch, owner: String) async throws
}

/// The epoch store did not hold what the caller expected: another monitor has acted.
public struct EpochConflict: Error, CustomStringConvertible, Sendable, Equatable {
    public var expected: Epoch
    public var attempted: Epoch
    public var stored: EpochRecord

    public init(expected: Epoch, attempted: Epoch, stored: EpochRecord) {
        self.expected = expected
        self.attempted = attempted
        self.stored = stored
    }

    public var description: String {
        "cannot store epoch \(attempted): expected the store to hold epoch \(expected), it holds \(stored); another monitor has acted"
    }
}

extension EpochRecord {
    /// The compare-and-swap rule every `EpochStore` applies to what it holds.
    public func swapped(expected: Epoch, new: Epoch, owner: String) throws -> EpochRecord {
        if epoch == new, self.owner == owner, new > .initial { return self }
        guard epoch == expected, new > expected, !owner.isEmpty else {
            throw EpochConflict(expected: expected, attempted: new, stored: self)
        }
        return EpochRecord(epoch: new, owner: owner)
    }
}

/// Keeps the epoch in memory: enough for tests and for one process.
public final class InMemoryEpochStore: EpochStore {
    private let value: Mutex<EpochRecord>

    public init(_ record: EpochRecord = .initial) { value = Mutex(record) }

    public func load() async throws -> EpochRecord { value.withLock { $0 } }

    public func compareAndSwap(expected: Epoch, new: Epoch, owner: String) async throws {
        try value.withLock { current in current = try current.swapped(expected: expected, new: new, owner: owner) }
    }
}
