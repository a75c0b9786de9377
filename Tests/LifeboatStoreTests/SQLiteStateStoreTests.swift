import Foundation
import LifeboatCore
import LifeboatPorts
import LifeboatStore
import Testing

@Suite struct SQLiteStateStoreTests {
    func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-store-\(UUID())/state.db").path
    }

    func python(_ script: String, _ path: String) throws {
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["python3", "-c", script, path]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)
    }

    @Test func createsAnOwnerOnlyFileAndKeepsTheEpochSnapshotAndJournal() async throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let store = try SQLiteStateStore(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let me = try store.monitorID()
        #expect(me.hasPrefix("monitor-") && me.count > 10)
        #expect(try await store.load() == .initial)
        try await store.compareAndSwap(expected: .initial, new: Epoch(1), owner: me)
        try await store.compareAndSwap(expected: .initial, new: Epoch(1), owner: me) // a resumed failover stores its own epoch again
        #expect(try await store.loadSnapshot() == nil)
        let snapshot = MachineSnapshot(phase: .watching(primary: "pg-b"), epoch: 1, paused: true, retired: ["pg-a"],
                                       lastFailoverAgo: 5000, lastReason: "failover complete", lastPrimaryLSN: 0x3000_0000)
        try await store.save(snapshot, journal: [JournalLine(epoch: Epoch(1), kind: .decision, message: "hello")])
        try await store.append([JournalLine(epoch: Epoch(1), kind: .stepStarted(.promote, node: "pg-b"), message: "promote pg-b")])

        // A second process opening the same file sees all of it, and is the same monitor.
        let reopened = try SQLiteStateStore(path: path)
        #expect(try reopened.monitorID() == me)
        #expect(try await reopened.load() == EpochRecord(epoch: Epoch(1), owner: me))
        let loaded = try #require(try await reopened.loadSnapshot())
        #expect(loaded.snapshot == snapshot)
        #expect(loaded.age < .seconds(5))
        let journal = try await reopened.journal(after: 0, limit: 10)
        #expect(journal.map(\.message) == ["hello", "promote pg-b"])
        #expect(journal.map(\.kind) == ["decision", "step-started"])
        #expect(journal[1].step == "promote" && journal[1].node == "pg-b")
        #expect(try await reopened.journal(after: journal[0].seq, limit: 10).map(\.message) == ["promote pg-b"])
    }

    @Test func aStaleOrForeignEpochIsRefusedAndChangesNothing() async throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let store = try SQLiteStateStore(path: path)
        try await store.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-a")
        // Another monitor that still believes epoch 0: stale.
        await #expect(throws: EpochConflict.self) { try await store.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-b") }
        do {
            try await store.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-b")
        } catch let conflict as EpochConflict {
            #expect(conflict.stored == EpochRecord(epoch: Epoch(1), owner: "monitor-a"))
        }
        // Going backwards, or skipping what the store holds: refused.
        await #expect(throws: EpochConflict.self) { try await store.compareAndSwap(expected: Epoch(1), new: Epoch(1), owner: "monitor-b") }
        await #expect(throws: EpochConflict.self) { try await store.compareAndSwap(expected: Epoch(3), new: Epoch(4), owner: "monitor-a") }
        await #expect(throws: EpochConflict.self) { try await store.compareAndSwap(expected: Epoch(1), new: Epoch(0), owner: "monitor-a") }
        #expect(try await store.load() == EpochRecord(epoch: Epoch(1), owner: "monitor-a"))
        // The next epoch from what it holds, by anyone: accepted.
        try await store.compareAndSwap(expected: Epoch(1), new: Epoch(2), owner: "monitor-b")
        #expect(try await store.load() == EpochRecord(epoch: Epoch(2), owner: "monitor-b"))
    }

    @Test func aVersion1FileIsUpgradedKeepingItsEpoch() async throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        // What Lifeboat 0.1 wrote: schema v1, epoch 3.
        try python("""
            import sqlite3,sys
            c=sqlite3.connect(sys.argv[1])
            c.executescript('''
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1');
            CREATE TABLE lifeboat_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
            INSERT INTO lifeboat_epoch (id, value) VALUES (1, 3);
            CREATE TABLE lifeboat_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), snapshot TEXT NOT NULL, saved_at REAL NOT NULL);
            CREATE TABLE lifeboat_journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, epoch INTEGER NOT NULL,
                kind TEXT NOT NULL, step TEXT, node TEXT, message TEXT NOT NULL);
            ''')
            c.commit()
            """, path)
        let store = try SQLiteStateStore(path: path)
        #expect(try await store.load() == EpochRecord(epoch: Epoch(3), owner: ""))
        #expect(try store.monitorID().hasPrefix("monitor-"))
        try await store.compareAndSwap(expected: Epoch(3), new: Epoch(4), owner: try store.monitorID())
    }

    @Test func aCorruptFileIsAClearErrorAndIsLeftAlone() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x42, count: 4096)
        try garbage.write(to: URL(fileURLWithPath: path))
        #expect(throws: StateStoreError.self) { try SQLiteStateStore(path: path) }
        do { _ = try SQLiteStateStore(path: path) } catch let error as StateStoreError {
            #expect(error.reason.hasPrefix("not a Lifeboat state file or corrupt"))
        }
        #expect(FileManager.default.contents(atPath: path) == garbage, "never silently reset")
    }

    @Test func aFileFromANewerLifeboatIsRefused() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        _ = try SQLiteStateStore(path: path)
        // A newer Lifeboat would have applied a migration this one does not know.
        try python("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO grdb_migrations VALUES ('v99')\"); c.commit()", path)
        do {
            _ = try SQLiteStateStore(path: path)
            Issue.record("a newer file was accepted")
        } catch {
            #expect("\(error)" == "state file \(path): written by a newer version of Lifeboat; upgrade this one (it will not downgrade the file)")
        }
    }
}
