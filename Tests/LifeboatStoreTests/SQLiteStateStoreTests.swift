import Foundation
import LifeboatCore
import LifeboatEngine
import LifeboatStore
import Testing

@Suite struct SQLiteStateStoreTests {
    func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-store-\(UUID())/state.db").path
    }

    @Test func createsAnOwnerOnlyFileAndKeepsTheEpochAndSnapshot() async throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let store = try SQLiteStateStore(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(try await store.load() == .initial)
        try await store.store(Epoch(1))
        try await store.store(Epoch(1)) // a resumed failover stores its own epoch again
        await #expect(throws: StaleEpochError.self) { try await store.store(Epoch(0)) }
        #expect(try store.loadSnapshot() == nil)
        let snapshot = MachineSnapshot(phase: .watching(primary: "pg-b"), epoch: 1, paused: true, retired: ["pg-a"],
                                       lastFailoverAgo: 5000, lastReason: "failover complete")
        try store.saveSnapshot(snapshot)
        try store.record(epoch: Epoch(1), kind: "decision", step: nil, node: nil, message: "hello")

        // A second process opening the same file sees all of it.
        let reopened = try SQLiteStateStore(path: path)
        #expect(try await reopened.load() == Epoch(1))
        let loaded = try #require(try reopened.loadSnapshot())
        #expect(loaded.snapshot == snapshot)
        #expect(loaded.age < .seconds(5))
        #expect(try reopened.journal().map(\.message) == ["hello"])
    }

    @Test func aCorruptFileIsAClearErrorAndIsLeftAlone() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x42, count: 4096)
        try garbage.write(to: URL(fileURLWithPath: path))
        #expect(throws: StateStoreError.self) { try SQLiteStateStore(path: path) }
        do { _ = try SQLiteStateStore(path: path) } catch {
            #expect("\(error)".contains("not a Lifeboat state file or corrupt"))
        }
        #expect(FileManager.default.contents(atPath: path) == garbage, "never silently reset")
    }

    @Test func aFileFromANewerLifeboatIsRefused() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        _ = try SQLiteStateStore(path: path)
        // A newer Lifeboat would have applied a migration this one does not know.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO grdb_migrations VALUES ('v99')\"); c.commit()", path]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)
        do {
            _ = try SQLiteStateStore(path: path)
            Issue.record("a newer file was accepted")
        } catch {
            #expect("\(error)" == "state file \(path): written by a newer version of Lifeboat; upgrade this one (it will not downgrade the file)")
        }
    }
}
