import Foundation
import GRDB
import LifeboatCore
import LifeboatPorts

/// The monitor's embedded state: the fencing epoch, the failover machine's snapshot and the
/// journal, in one SQLite file created with owner-only permissions. A corrupt file or one written
/// by a newer Lifeboat is a clear error, never a silent reset.
public final class SQLiteStateStore: StateStore, EpochStore, Sendable {
    public let path: String
    private let queue: DatabaseQueue

    public static let schemaVersion = 2

    /// Opens (creating and migrating when needed) the state file the monitor owns. With
    /// `readOnly`, the file must exist and is never created or migrated (tools reading a live
    /// monitor's journal).
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        if readOnly {
            guard FileManager.default.fileExists(atPath: path) else { throw StateStoreError(path: path, reason: "no such file") }
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            do {
                queue = try DatabaseQueue(path: path, configuration: configuration)
                try queue.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM lifeboat_journal") }
            } catch {
                throw StateStoreError(path: path, reason: "not a Lifeboat state file, not initialised yet, or corrupt (\(Self.describe(error)))")
            }
            return
        }
        let existed = FileManager.default.fileExists(atPath: path)
        if !existed {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw StateStoreError(path: path, reason: "cannot create the file")
            }
        }
        do {
            var configuration = Configuration()
            // The CLI and tests read the file while the monitor writes it.
            configuration.busyMode = .timeout(5)
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
        } catch {
            throw StateStoreError(path: path, reason: "not a Lifeboat state file or corrupt (\(Self.describe(error))); move it aside to start afresh, losing the journal")
        }
        try migrate()
    }

    private func migrate() throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE lifeboat_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
                INSERT INTO lifeboat_epoch (id, value) VALUES (1, 0);
                CREATE TABLE lifeboat_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), snapshot TEXT NOT NULL, saved_at REAL NOT NULL);
                CREATE TABLE lifeboat_journal (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, epoch INTEGER NOT NULL,
                    kind TEXT NOT NULL, step TEXT, node TEXT, message TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v2: epoch owner, monitor id") { db in
            // The owner of the stored epoch, for compare-and-swap; and this state file's monitor id,
            // made once so a restarted monitor is the same owner.
            try db.execute(sql: "ALTER TABLE lifeboat_epoch ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
            try db.execute(sql: "CREATE TABLE lifeboat_identity (id INTEGER PRIMARY KEY CHECK (id = 1), monitor_id TEXT NOT NULL)")
            let random = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            try db.execute(sql: "INSERT INTO lifeboat_identity (id, monitor_id) VALUES (1, ?)", arguments: ["monitor-\(random)"])
        }
        do {
            if try queue.read({ try migrator.hasBeenSuperseded($0) }) {
                throw StateStoreError(path: path, reason: "written by a newer version of Lifeboat; upgrade this one (it will not downgrade the file)")
            }
            try migrator.migrate(queue)
        } catch let error as StateStoreError {
            throw error
        } catch {
            throw StateStoreError(path: path, reason: "cannot prepare the state file (\(Self.describe(error)))")
        }
    }

    /// This state file's monitor id (`monitor-<random>`, made when the file was created): the
    /// owner the monitor stores epochs under.
    public func monitorID() throws -> String {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT monitor_id FROM lifeboat_identity WHERE id = 1") ?? "" }
    }

    // MARK: EpochStore

    public func load() async throws -> EpochRecord {
        try await queue.read { db in try Self.epochRecord(db) }
    }

    public func compareAndSwap(expected: Epoch, new: Epoch, owner: String) async throws {
        try await queue.write { db in
            let current = try Self.epochRecord(db)
            let swapped = try current.swapped(expected: expected, new: new, owner: owner)
            try db.execute(sql: "UPDATE lifeboat_epoch SET value = ?, owner = ? WHERE id = 1", arguments: [Int64(swapped.epoch.value), swapped.owner])
        }
    }

    private static func epochRecord(_ db: Database) throws -> EpochRecord {
        guard let row = try Row.fetchOne(db, sql: "SELECT value, owner FROM lifeboat_epoch WHERE id = 1") else { return .initial }
        let value: Int64 = row["value"]
        return EpochRecord(epoch: Epoch(UInt64(max(0, value))), owner: row["owner"])
    }

    // MARK: StateStore

    public func loadSnapshot() async throws -> (snapshot: MachineSnapshot, age: Duration)? {
        guard let row = try await queue.read({ try Row.fetchOne($0, sql: "SELECT snapshot, saved_at FROM lifeboat_snapshot WHERE id = 1") }) else {
            return nil
        }
        let text: String = row["snapshot"]
        let savedAt: Double = row["saved_at"]
        do {
            let snapshot = try JSONDecoder().decode(MachineSnapshot.self, from: Data(text.utf8))
            let age = max(0, Date().timeIntervalSince1970 - savedAt)
            return (snapshot, .milliseconds(Int64(age * 1000)))
        } catch {
            throw StateStoreError(path: path, reason: "the saved monitor state cannot be read (\(error)); it may come from a newer Lifeboat")
        }
    }

    public func save(_ snapshot: MachineSnapshot, journal: [JournalLine]) async throws {
        let text = String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self)
        let now = Date().timeIntervalSince1970
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO lifeboat_snapshot (id, snapshot, saved_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at",
                           arguments: [text, now])
            try Self.insert(journal, at: now, db)
        }
    }

    public func append(_ journal: [JournalLine]) async throws {
        guard !journal.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        try await queue.write { db in try Self.insert(journal, at: now, db) }
    }

    private static func insert(_ lines: [JournalLine], at now: Double, _ db: Database) throws {
        for line in lines {
            let stored = line.kind.stored
            try db.execute(sql: "INSERT INTO lifeboat_journal (at, epoch, kind, step, node, message) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [now, Int64(line.epoch.value), stored.kind, stored.step, stored.node, line.message])
        }
    }

    public func journal(after: Int64, limit: Int) async throws -> [StoredJournalLine] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM lifeboat_journal WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, limit]).map { row in
                StoredJournalLine(seq: row["seq"], unixTime: row["at"], epoch: UInt64(max(0, row["epoch"] as Int64)), kind: row["kind"],
                                  step: row["step"], node: row["node"], message: row["message"])
            }
        }
    }

    public func newestJournal(limit: Int) async throws -> [StoredJournalLine] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM (SELECT * FROM lifeboat_journal ORDER BY seq DESC LIMIT ?) ORDER BY seq", arguments: [limit]).map { row in
                StoredJournalLine(seq: row["seq"], unixTime: row["at"], epoch: UInt64(max(0, row["epoch"] as Int64)), kind: row["kind"],
                                  step: row["step"], node: row["node"], message: row["message"])
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let db = error as? DatabaseError { return db.message ?? "\(db.resultCode)" }
        return "\(error)"
    }
}

public struct StateStoreError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "state file \(path): \(reason)" }
}
