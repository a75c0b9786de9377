import Foundation
import LifeboatCore
import LifeboatPorts

/// The fencing epoch in etcd, for several monitors: one key (`/lifeboat/<cluster>/epoch`) holding
/// `{"epoch": N, "owner": "monitor-…"}`, changed only by a transaction that compares the key's
/// modification revision with the one read — so of two monitors racing to store the same next
/// epoch, exactly one wins and the other gets `EpochConflict` with what the winner stored. The
/// compare-and-swap rule is `EpochRecord.swapped`, the same as every other store's.
///
/// A leading monitor's store is guarded by its term (`term`): the transaction also compares the
/// leader key's creation revision, so a monitor that no longer leads cannot store an epoch; and
/// storing again an epoch already stored succeeds whoever stored it (the next leader resuming the
/// last leader's failover).
public struct EtcdEpochStore: EpochStore {
    public let client: EtcdClient
    public let key: String
    let leaderKey: String
    let term: (@Sendable () async -> EtcdLeadership.Term?)?

    public init(client: EtcdClient, cluster: String, term: (@Sendable () async -> EtcdLeadership.Term?)? = nil) {
        self.client = client
        self.key = "/lifeboat/\(cluster)/epoch"
        self.leaderKey = "/lifeboat/\(cluster)/leader"
        self.term = term
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
            guard let term else {
                let next = try current.swapped(expected: expected, new: new, owner: owner)
                if next == current { return }
                let value = try JSONEncoder().encode(Stored(epoch: next.epoch.value, owner: next.owner))
                if try await client.putIf(key, modRevision: revision, value: value) { return }
                continue
            }
            guard let held = await term() else { throw EtcdStateStore.NotLeading() }
            let leading = EtcdClient.Compare.created(leaderKey, revision: held.revision)
            if current.epoch == new, new > .initial {
                // Stored already (by this leader or the last one): this leader resumes it.
                guard try await client.txn(if: [leading], then: []).succeeded else { throw EtcdStateStore.NotLeading() }
                return
            }
            let next = try current.swapped(expected: expected, new: new, owner: owner)
            let value = try JSONEncoder().encode(Stored(epoch: next.epoch.value, owner: next.owner))
            let unchanged: EtcdClient.Compare = revision == 0 ? .created(key, revision: 0) : .modified(key, revision: revision)
            let result = try await client.txn(if: [leading, unchanged], then: [.put(key, value, lease: nil)], else: [.get(leaderKey)])
            if result.succeeded { return }
            if result.gets.first.flatMap({ $0 })?.createRevision != held.revision { throw EtcdStateStore.NotLeading() }
        }
        let (current, _) = try await read()
        throw EpochConflict(expected: expected, attempted: new, stored: current)
    }
}
