import Foundation
import LifeboatCore
import LifeboatPorts
import Synchronization

/// The monitors' shared state in etcd: the machine's snapshot (`/lifeboat/<cluster>/state`) and
/// the journal (`/lifeboat/<cluster>/journal/<seq>`), so the monitor that leads next resumes a
/// failover where the last leader left it. Every write is a transaction guarded by the leader
/// key's creation revision (`term`): a monitor that no longer leads cannot write, whatever it
/// believes. The journal keeps its newest `keep` lines.
public final class EtcdStateStore: StateStore {
    public let client: EtcdClient
    let prefix: String
    let leaderKey: String
    let term: @Sendable () async -> EtcdLeadership.Term?
    let keep: Int64
    private let nextSeq = Mutex<Int64?>(nil)
    /// etcd refuses a transaction of more than 128 operations by default.
    static let opsPerTxn = 100

    public init(client: EtcdClient, cluster: String, keep: Int64 = 10_000, term: @escaping @Sendable () async -> EtcdLeadership.Term?) {
        self.client = client
        self.prefix = "/lifeboat/\(cluster)/"
        self.leaderKey = "/lifeboat/\(cluster)/leader"
        self.keep = keep
        self.term = term
    }

    public struct NotLeading: Error, CustomStringConvertible, Sendable {
        public var description: String { "this monitor does not lead (etcd names another leader, or none): nothing was written" }
    }

    struct SavedState: Codable {
        var snapshot: MachineSnapshot
        var savedUnix: Double
    }

    struct Line: Codable {
        var seq: Int64
        var unixTime: Double
        var epoch: UInt64
        var kind: String
        var step: String?
        var node: String?
        var message: String
    }

    var stateKey: String { prefix + "state" }
    func journalKey(_ seq: Int64) -> String { prefix + "journal/" + String(format: "%020lld", seq) }
    var journalEnd: String { prefix + "journal0" }

    public func loadSnapshot() async throws -> (snapshot: MachineSnapshot, age: Duration)? {
        guard let entry = try await client.get(stateKey) else { return nil }
        guard let saved = try? JSONDecoder().decode(SavedState.self, from: entry.value) else {
            throw EtcdClient.Failure(description: "etcd key \(stateKey) does not hold a Lifeboat state; not using it")
        }
        let age = max(0, Date().timeIntervalSince1970 - saved.savedUnix)
        return (saved.snapshot, .milliseconds(Int64(age * 1000)))
    }

    public func save(_ snapshot: MachineSnapshot, journal: [JournalLine]) async throws {
        let state = try JSONEncoder().encode(SavedState(snapshot: snapshot, savedUnix: Date().timeIntervalSince1970))
        try await write(journal, with: [.put(stateKey, state, lease: nil)])
    }

    public func append(_ journal: [JournalLine]) async throws {
        guard !journal.isEmpty else { return }
        try await write(journal, with: [])
    }

    public func journal(after: Int64, limit: Int) async throws -> [StoredJournalLine] {
        guard after < Int64.max - 1 else { return [] }
        return try lines(try await client.range(from: journalKey(max(0, after) + 1), to: journalEnd, limit: max(1, limit)))
    }

    public func newestJournal(limit: Int) async throws -> [StoredJournalLine] {
        try lines(try await client.range(from: journalKey(1), to: journalEnd, limit: max(1, limit), descending: true).reversed().map { $0 })
    }

    private func lines(_ rows: [(key: String, entry: EtcdClient.Entry)]) throws -> [StoredJournalLine] {
        try rows.map { row in
            guard let line = try? JSONDecoder().decode(Line.self, from: row.entry.value) else {
                throw EtcdClient.Failure(description: "etcd key \(row.key) does not hold a journal line")
            }
            return StoredJournalLine(seq: line.seq, unixTime: line.unixTime, epoch: line.epoch, kind: line.kind, step: line.step,
                                     node: line.node, message: line.message)
        }
    }

    /// Puts `lines` (numbered after the newest stored line) and `extra` in guarded transactions,
    /// the snapshot with the first lines, so a decision and its reasons land together.
    private func write(_ lines: [JournalLine], with extra: [EtcdClient.Operation]) async throws {
        guard let term = await term() else { throw NotLeading() }
        let first = try await allocate(lines.count)
        let now = Date().timeIntervalSince1970
        var operations = extra
        for (offset, line) in lines.enumerated() {
            let seq = first + Int64(offset)
            let stored = line.kind.stored
            let value = try JSONEncoder().encode(Line(seq: seq, unixTime: now, epoch: line.epoch.value, kind: stored.kind, step: stored.step,
                                                      node: stored.node, message: line.message))
            operations.append(.put(journalKey(seq), value, lease: nil))
        }
        let last = first + Int64(lines.count) - 1
        if !lines.isEmpty, last / 500 != (first - 1) / 500, last > keep {
            operations.append(.deleteRange(from: journalKey(0), to: journalKey(last - keep)))
        }
        var start = 0
        repeat {
            let chunk = Array(operations[start..<min(operations.count, start + Self.opsPerTxn)])
            let result = try await client.txn(if: [.created(leaderKey, revision: term.revision)], then: chunk)
            guard result.succeeded else {
                nextSeq.withLock { $0 = nil }
                throw NotLeading()
            }
            start += Self.opsPerTxn
        } while start < operations.count
    }

    private func allocate(_ count: Int) async throws -> Int64 {
        if let first = nextSeq.withLock({ next -> Int64? in
            guard let n = next else { return nil }
            next = n + Int64(count)
            return n
        }) { return first }
        let newest = try await client.range(from: journalKey(0), to: journalEnd, limit: 1, descending: true)
        let after = newest.first.flatMap { row in Int64(row.key.dropFirst(prefix.count + "journal/".count)) } ?? 0
        return nextSeq.withLock { next in
            let first = max(next ?? 0, after + 1)
            next = first + Int64(count)
            return first
        }
    }
}
