import Foundation
import LifeboatAgent
import LifeboatCore
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// Two directories stand in for two regions; real rsync moves the files.
struct TwoRegions {
    let root: String
    var east: String { "\(root)/us-east/files" }
    var west: String { "\(root)/eu-west/files" }

    init() throws {
        root = try temporaryDirectory("regions")
        for dir in ["\(root)/us-east/files/uploads", "\(root)/eu-west/files/uploads"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
    }

    func files(region: String, timeout: Duration = .seconds(60), bwlimit: Int? = nil, sources: [FilesConfig.Peer]? = nil) -> FilesConfig {
        FilesConfig(paths: [.init(name: "uploads", path: "\(root)/\(region)/files/uploads")], interval: .seconds(1), timeout: timeout,
                    excludes: ["*.tmp"], bandwidthLimitKiB: bwlimit,
                    peers: sources ?? [.init(region: "us-east", source: .local(east)), .init(region: "eu-west", source: .local(west))],
                    primaryRegion: "us-east", stateFile: "\(root)/\(region)/state.json")
    }

    func write(_ region: String, _ name: String, _ text: String) throws {
        try text.write(toFile: "\(root)/\(region)/files/uploads/\(name)", atomically: true, encoding: .utf8)
    }

    func read(_ region: String, _ name: String) -> String? {
        try? String(contentsOfFile: "\(root)/\(region)/files/uploads/\(name)", encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct FileReplicationTests {
    @Test func standbysPullFromThePrimaryAndTheDirectionFollowsTheEpoch() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        let east = try FileReplicator(config: regions.files(region: "us-east"), region: "us-east", logger: testLogger())
        let west = try FileReplicator(config: regions.files(region: "eu-west"), region: "eu-west", logger: testLogger())

        try regions.write("us-east", "invoice-1.pdf", "one")
        try regions.write("us-east", "scratch.tmp", "excluded")
        try regions.write("eu-west", "stale-here-only.txt", "kept: delete is off")
        let eastPass = await east.syncNow()
        #expect(eastPass[0].source == nil, "the primary region is the source and pulls nothing")
        let westPass = await west.syncNow()
        #expect(westPass[0].lastError == nil, "\(westPass)")
        #expect(regions.read("eu-west", "invoice-1.pdf") == "one")
        #expect(regions.read("eu-west", "scratch.tmp") == nil, "excluded")
        #expect(regions.read("eu-west", "stale-here-only.txt") != nil)
        #expect(westPass[0].lastBytes > 0 && westPass[0].lastSuccess != nil)
        #expect(westPass[0].source == regions.east)

        // Failover to eu-west under epoch 1: eu-west becomes the source, us-east (rejoined) pulls.
        try await west.accept(epoch: 1, primaryRegion: "eu-west")
        try await east.accept(epoch: 1, primaryRegion: "eu-west")
        try regions.write("eu-west", "invoice-2.pdf", "two, written after the failover")
        try regions.write("us-east", "invoice-1.pdf", "an old-primary write that must not flow back")
        let westAfter = await west.syncNow()
        #expect(westAfter[0].source == nil)
        #expect(regions.read("eu-west", "invoice-1.pdf") == "one", "nothing is pulled into (or pushed toward) the new primary")
        let eastAfter = await east.syncNow()
        #expect(eastAfter[0].lastError == nil, "\(eastAfter)")
        #expect(regions.read("us-east", "invoice-2.pdf") == "two, written after the failover")
        #expect(regions.read("us-east", "invoice-1.pdf") == "one", "the new primary's version wins")

        // An order under the old epoch is refused and changes nothing.
        await #expect(throws: SyncRefusal.staleEpoch(ordered: 0, known: 1)) { try await east.accept(epoch: 0, primaryRegion: "us-east") }
        await #expect(throws: SyncRefusal.conflictingPrimary(epoch: 1, ordered: "us-east", known: "eu-west")) {
            try await east.accept(epoch: 1, primaryRegion: "us-east")
        }
        #expect(await east.currentOrder == ReplicationOrder(epoch: 1, primaryRegion: "eu-west"))

        // The order survives a restart; the state file is owner-only.
        let restarted = try FileReplicator(config: regions.files(region: "us-east"), region: "us-east", logger: testLogger())
        #expect(await restarted.currentOrder == ReplicationOrder(epoch: 1, primaryRegion: "eu-west"))
        let mode = try FileManager.default.attributesOfItem(atPath: "\(regions.root)/us-east/state.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aNodeWhoseDatabaseTakesWritesIsNeverPulledInto() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        // eu-west's agent still believes us-east is primary, but its own database accepts writes.
        let west = try FileReplicator(config: regions.files(region: "eu-west"), region: "eu-west", logger: testLogger(),
                                      localDatabaseWritable: { true })
        try regions.write("us-east", "a.txt", "from east")
        try regions.write("eu-west", "a.txt", "written on a live primary")
        let pass = await west.syncNow()
        #expect(pass[0].errors == 1)
        #expect(pass[0].lastError?.contains("local database accepts writes") == true)
        #expect(regions.read("eu-west", "a.txt") == "written on a live primary")
        #expect(await west.lastRefusal != nil)
    }

    @Test func anInterruptedTransferNeverLeavesAHalfWrittenFile() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        // 8 MiB at 512 KiB/s needs 16 s; the 2 s timeout stops rsync mid-file.
        let big = "\(regions.east)/uploads/big.bin"
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        FileManager.default.createFile(atPath: big, contents: try random.read(upToCount: 8 << 20))
        try random.close()
        try regions.write("eu-west", "big.bin", "the previous complete version")
        let west = try FileReplicator(config: regions.files(region: "eu-west", timeout: .seconds(2), bwlimit: 512), region: "eu-west", logger: testLogger())
        let pass = await west.syncNow()
        #expect(pass[0].errors == 1)
        #expect(pass[0].lastError?.contains("timed out") == true, "\(pass[0].lastError ?? "")")
        #expect(pass[0].lastSuccess == nil)
        // The old file is intact, whole; rsync's temporary file is gone.
        #expect(regions.read("eu-west", "big.bin") == "the previous complete version")
        try await waitFor("rsync to remove its temporary file", timeout: .seconds(5)) {
            try FileManager.default.contentsOfDirectory(atPath: "\(regions.west)/uploads").filter { $0.hasPrefix(".big.bin.") }.isEmpty
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(regions.west)/uploads").sorted() == ["big.bin"])
    }

    @Test func daemonModeSourceIsPulledOverTheRsyncProtocol() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        let daemon = try await RsyncDaemon.start(modules: ["uploads": "\(regions.east)/uploads"], directory: regions.root)
        defer { daemon.stop() }
        try regions.write("us-east", "report.csv", "a,b\n1,2\n")
        let files = regions.files(region: "eu-west", sources: [.init(region: "us-east", source: .daemon(host: "127.0.0.1", port: daemon.port))])
        let west = try FileReplicator(config: files, region: "eu-west", logger: testLogger())
        let command = await west.command(for: files.paths[0], from: files.peers[0].source)
        #expect(command.contains("rsync://127.0.0.1:\(daemon.port)/uploads/"))
        #expect(!command.contains("--delete"), "delete is off by default")
        let pass = await west.syncNow()
        #expect(pass[0].lastError == nil, "\(pass)")
        #expect(regions.read("eu-west", "report.csv") == "a,b\n1,2\n")
    }
}

/// `rsync --daemon` on a loopback port, exporting read-only modules (a source can't be pushed to).
final class RsyncDaemon: Sendable {
    let port: Int
    let process: Process

    init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    static func start(modules: [String: String], directory: String) async throws -> RsyncDaemon {
        let port = try FreePort.find()
        var conf = "use chroot = no\nread only = yes\npid file = \(directory)/rsyncd.pid\n"
        if geteuid() == 0 { conf += "uid = root\ngid = root\n" }
        for (name, path) in modules { conf += "[\(name)]\n  path = \(path)\n" }
        try conf.write(toFile: "\(directory)/rsyncd.conf", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
        process.arguments = ["--daemon", "--no-detach", "--address=127.0.0.1", "--port=\(port)", "--config=\(directory)/rsyncd.conf",
                             "--log-file=\(directory)/rsyncd.log"]
        try process.run()
        let daemon = RsyncDaemon(port: port, process: process)
        try await waitFor("rsync --daemon to listen on \(port)", timeout: .seconds(30)) {
            let outcome = try await ProcessRunner.run(["/usr/bin/rsync", "rsync://127.0.0.1:\(port)/"], timeout: .seconds(2))
            return outcome.succeeded
        }
        return daemon
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Many sync-now orders at once (the monitor retrying while the interval loop runs): one rsync
/// pass at a time into a directory, never two.
@Suite struct OverlappingSyncTests {
    @Test func concurrentSyncNowCallsNeverRunTwoPassesAtOnce() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        // An rsync that takes a moment and notices company: it fails if another is running.
        let lock = "\(regions.root)/rsync.running"
        let script = "\(regions.root)/slow-rsync"
        try """
            #!/bin/sh
            if ! mkdir "\(lock)" 2>/dev/null; then echo "two passes at once" >&2; exit 99; fi
            sleep 0.2
            rsync "$@"; status=$?
            rmdir "\(lock)"
            exit $status
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        try regions.write("us-east", "a.txt", "a")
        let west = try FileReplicator(config: regions.files(region: "eu-west"), region: "eu-west", logger: testLogger(), rsync: script)
        let results = await withTaskGroup(of: [PathSyncStatus].self) { group in
            for _ in 0..<6 { group.addTask { await west.syncNow() } }
            var all: [[PathSyncStatus]] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 6)
        #expect(await west.mostAtOnce == 1)
        #expect(await west.passesStarted == 6)
        let status = await west.status()
        #expect(status.map(\.errors) == [0], "a pass saw another one running: \(status)")
        #expect(regions.read("eu-west", "a.txt") == "a")
    }
}
