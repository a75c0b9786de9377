import Foundation
import GRDB
import LifeboatCore
import LifeboatEngine

/// The monitor's embedded state: the fencing epoch, the failover machine's snapshot and the
/// journal, in one SQLite file created with owner-only permissions. A corrupt file or one written
/// by a newer Lifeboat is a clear error, never a silent reset.
public final class SQLiteStateStore: StateStore, EpochStore, Sendable {
    public let path: String
    private let queue: DatabaseQueue

    public static let schemaVersion = 1

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

    // MARK: EpochStore

    public func load() async throws -> Epoch {
        try await queue.read { db in Epoch(UInt64(try Int64.fetchOne(db, sql: "SELECT value FROM lifeboat_epoch WHERE id = 1") ?? 0)) }
    }

    public func store(_ epoch: Epoch) async throws {
        try await queue.write { db in
            let current = Epoch(UInt64(try Int64.fetchOne(db, sql: "SELECT value FROM lifeboat_epoch WHERE id = 1") ?? 0))
            guard epoch >= current else { throw StaleEpochError(attempted: epoch, stored: current) }
            try db.execute(sql: "UPDATE lifeboat_epoch SET value = ? WHERE id = 1", arguments: [Int64(epoch.value)])
        }
    }

    // MARK: StateStore

    public func loadSnapshot() throws -> (snapshot: MachineSnapshot, age: Duration)? {
        guard let row = try queue.read({ try Row.fetchOne($0, sql: "SELECT snapshot, saved_at FROM lifeboat_snapshot WHERE id = 1") }) else {
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

    public func saveSnapshot(_ snapshot: MachineSnapshot) throws {
        let text = String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO lifeboat_snapshot (id, snapshot, saved_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at",
                           arguments: [text, Date().timeIntervalSince1970])
        }
    }

    public func record(epoch: Epoch, kind: String, step: String?, node: String?, message: String) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO lifeboat_journal (at, epoch, kind, step, node, message) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [Date().timeIntervalSince1970, Int64(epoch.value), kind, step, node, message])
        }
    }

    public struct Line: Sendable, Equatable {
        public var seq: Int64
        public var at: Date
        public var epoch: UInt64
        public var kind: String
        public var step: String?
        public var node: String?
        public var message: String
    }

    /// Journal lines after `since` (a sequence number), oldest first.
    public func journal(since: Int64 = 0, limit: Int = 1000) throws -> [Line] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM lifeboat_journal WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [since, limit]).map { row in
                Line(seq: row["seq"], at: Date(timeIntervalSince1970: row["at"]), epoch: UInt64(row["epoch"] as Int64),
                     kind: row["kind"], step: row["step"], node: row["node"], message: row["message"])
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

extension JournalEntry.Kind {
    /// How the persistent journal names this kind, with the step and node it concerns.
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
