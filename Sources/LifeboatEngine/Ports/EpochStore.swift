import LifeboatCore
import Synchronization

/// Where the fencing epoch is kept. Storing it is the first step of every failover.
public protocol EpochStore: Sendable {
    func load() async throws -> Epoch
    /// Stores `epoch` if it is newer than the stored one, or equal (a resumed failover storing
    /// its own epoch again); throws when the stored one is newer (another actor moved on).
    func store(_ epoch: Epoch) async throws
}

public struct StaleEpochError: Error, CustomStringConvertible {
    public var attempted: Epoch
    public var stored: Epoch
    public init(attempted: Epoch, stored: Epoch) {
        self.attempted = attempted
        self.stored = stored
    }

    public var description: String { "epoch \(attempted) is older than the stored epoch \(stored); another monitor has acted" }
}

/// Keeps the epoch in memory: enough for one monitor process and for drills.
public final class InMemoryEpochStore: EpochStore {
    private let value: Mutex<Epoch>

    public init(_ epoch: Epoch = .initial) { value = Mutex(epoch) }

    public func load() async throws -> Epoch { value.withLock { $0 } }

    public func store(_ epoch: Epoch) async throws {
        try value.withLock { current in
            guard epoch >= current else { throw StaleEpochError(attempted: epoch, stored: current) }
            current = epoch
        }
    }
}
