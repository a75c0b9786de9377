import Foundation
import LifeboatCore
import LifeboatPorts

/// The fencing epoch in etcd, for several monitors: one key (`/lifeboat/<cluster>/epoch`) holding
/// `{"epoch": N, "owner": "monitor-…"}`, changed only by a transaction that compares the key's
/// modification revision with the one read — so of two monitors racing to store the same next
/// epoch, exactly one wins and the other gets `EpochConflict` with what the winner stored. The
/// compare-and-swap rule is `EpochRecord.swapped`, the same as every other store's.
///
/// This is the first part of several monitors over etcd (issue 9, item 2): leader election, the
/// state store and the lease in etcd are not built yet.
public struct EtcdEpochStore: EpochStore {
    public let client: EtcdClient
    public let key: String

    public init(client: EtcdClient, cluster: String) {
        self.client = client
        self.key = "/lifeboat/\(cluster)/epoch"
    }

    struct Stored: Codable { var epoch: UInt64; var owner: String }

    public func load() async throws -> EpochRecord {
        try await read().record
    }

    private func read() async throws -> (record: EpochRecord, revision: Int64) {
        guard let entry = try await client.get(key) else { return (.initial, 0) }
        guard let stored = try? JSONDecoder().decode(Stored.self, from: entry.value) else {
            throw EtcdClient.Failure(description: "etcd key \(key) does not hold an epoch record; not overwriting it")
        }
        return (EpochRecord(epoch: Epoch(stored.epoch), owner: stored.owner), entry.modRevision)
    }

    public func compareAndSwap(expected: Epoch, new: Epoch, owner: String) async throws {
        // Bounded: each lost race re-reads; the rule then refuses unless the store moved back.
        for _ in 0..<5 {
            let (current, revision) = try await read()
            let next = try current.swapped(expected: expected, new: new, owner: owner)
            if next == current { return }
            let value = try JSONEncoder().encode(Stored(epoch: next.epoch.value, owner: next.owner))
            if try await client.putIf(key, modRevision: revision, value: value) { return }
        }
        let (current, _) = try await read()
        throw EpochConflict(expected: expected, attempted: new, stored: current)
    }
}
