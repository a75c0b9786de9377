import Foundation
import LifeboatAgent
import LifeboatConfig
import LifeboatCore

/// One PostgreSQL server of the sandbox, in its own region.
public struct SandboxNode: Sendable {
    public var name: String
    public var region: String
    /// The region's own loopback address (127.A.B.N of the sandbox's block): DNS can tell the
    /// regions apart, and no other sandbox uses it.
    public var address: String
    /// The same port in every region, as in a real deployment.
    public var port: Int
    public var dataDirectory: String
    public var logFile: String

    public var config: DatabaseNodeConfig {
        DatabaseNodeConfig(name: name, region: region, host: address, port: port, user: "postgres", database: "postgres")
    }

    var socketDirectory: String { URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().appendingPathComponent("sock").path }
}

/// Real local regions for drills and tests: a PostgreSQL primary and streaming standbys in a
/// temporary directory on free loopback ports, run as an unprivileged user when we are root.
public actor SandboxCluster {
    public nonisolated let directory: String
    public nonisolated let nodes: [SandboxNode]
    public nonisolated let installation: PostgresInstallation
    /// The sandbox's own addresses; released by `destroy()`.
    public nonisolated let block: LoopbackBlock
    /// With a network lab, each region's PostgreSQL runs in the region's namespace on its address
    /// there (port 5432, as on a real host); otherwise on the block's loopback addresses.
    public nonisolated let network: NetworkLab?
    private let tunedTimeouts: Bool
    private let runner: CommandRunner
    private var started: Set<String> = []
    private var destroyed = false

    public nonisolated var primary: SandboxNode { nodes[0] }
    public nonisolated var standbys: [SandboxNode] { Array(nodes.dropFirst()) }

    public nonisolated var topology: Topology {
        Topology(
            regions: nodes.enumerated().map { Region(name: $1.region, priority: $0 + 1) },
            databaseNodes: nodes.map { DatabaseNode(name: $0.name, region: $0.region) }
        )
    }

    /// Lays out (but does not start) a sandbox with one node per region; the first is primary.
    /// With `tunedTimeouts` false, PostgreSQL keeps its default `wal_receiver_timeout` and
    /// `wal_sender_timeout` (60 s): partition drills show failover does not depend on them.
    public init(regions: [String] = ["us-east", "eu-west"], installation: PostgresInstallation, network: NetworkLab? = nil,
                tunedTimeouts: Bool = true) throws {
        self.tunedTimeouts = tunedTimeouts
        precondition(regions.count >= 1)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-sandbox-\(UUID().uuidString.prefix(8).lowercased())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let block = try LoopbackBlock.reserve()
        self.block = block
        self.network = network
        let addresses = regions.indices.map { network?.address($0) ?? block.address($0 + 1) }
        let port = network == nil ? try FreePort.find(bindableOn: addresses) : 5432
        var nodes: [SandboxNode] = []
        for (index, region) in regions.enumerated() {
            nodes.append(SandboxNode(
                name: "pg-\(region)", region: region, address: addresses[index], port: port,
                dataDirectory: "\(base)/\(region)/data", logFile: "\(base)/\(region)/postgres.log"
            ))
            for dir in ["\(base)/\(region)", "\(base)/\(region)/sock"] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
        }
        self.directory = base
        self.nodes = nodes
        self.installation = installation
        self.runner = CommandRunner(runAsUser: CommandRunner.isRoot ? "postgres" : nil)
        if CommandRunner.isRoot {
            // The server runs as postgres and needs to own its directories.
            for path in [base] + regions.flatMap({ ["\(base)/\($0)", "\(base)/\($0)/sock"] }) {
                try Self.chown(path, to: "postgres")
            }
        }
    }

    /// initdb the primary, start it, clone each standby with pg_basebackup -R, start them and
    /// wait until every standby streams.
    public func start() async throws {
        let primary = self.primary
        let pg = installation
        try await runner.run(pg.tool("initdb"), ["-D", primary.dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try append(to: "\(primary.dataDirectory)/postgresql.conf", """

            # lifeboat sandbox
            listen_addresses = '\(primary.address)'
            port = \(primary.port)
            unix_socket_directories = '\(primary.socketDirectory)'
            wal_level = replica
            max_wal_senders = 10
            hot_standby = on
            wal_log_hints = on
            wal_keep_size = 256MB
            max_slot_wal_keep_size = 1GB
            shared_buffers = 32MB
            max_connections = 60
            wal_receiver_status_interval = 1s
            \(tunedTimeouts ? "wal_receiver_timeout = 5s\nwal_sender_timeout = 5s" : "# wal_receiver_timeout, wal_sender_timeout: PostgreSQL's defaults (60 s)")
            cluster_name = '\(primary.region)'
            """)
        var hba = "\nhost replication postgres 127.0.0.0/8 trust\nhost all all 127.0.0.0/8 trust\n"
        if let network { hba += "host replication postgres \(network.subnet).0/24 trust\nhost all all \(network.subnet).0/24 trust\n" }
        try append(to: "\(primary.dataDirectory)/pg_hba.conf", hba)
        try await startServer(primary)

        for standby in standbys {
            try await runner.run(pg.tool("pg_basebackup"), [
                "-h", primary.address, "-p", String(primary.port), "-U", "postgres", "-D", standby.dataDirectory, "-R", "-X", "stream", "-c", "fast",
                // Its slot, as the monitor keeps them (replication_slots:), written as primary_slot_name.
                "-C", "-S", ReplicationSlots.name(for: standby.name),
            ])
            try append(to: "\(standby.dataDirectory)/postgresql.conf", "\nlisten_addresses = '\(standby.address)'\nunix_socket_directories = '\(standby.socketDirectory)'\ncluster_name = '\(standby.region)'\n")
            try await startServer(standby)
        }
        try await waitForStreaming(timeout: .seconds(30))
    }

    /// `pg_ctl` with `arguments`, inside the node's region namespace when there is a network lab
    /// (the postmaster it starts stays there).
    private func pgCtl(_ node: SandboxNode, _ arguments: [String]) async throws {
        guard let network, let index = nodes.firstIndex(where: { $0.name == node.name }) else {
            try await runner.run(installation.tool("pg_ctl"), arguments, discardOutput: true)
            return
        }
        var command = network.exec(index)
        if let user = runner.runAsUser { command += ["/usr/sbin/runuser", "-u", user, "--"] }
        command += [installation.tool("pg_ctl")] + arguments
        try await CommandRunner().run(command[0], Array(command.dropFirst()), asUser: false, discardOutput: true)
    }

    /// What runs a command inside `node`'s region (its network namespace, when there is a lab).
    public nonisolated func commandPrefix(for node: SandboxNode) -> [String] {
        guard let network, let index = nodes.firstIndex(where: { $0.name == node.name }) else { return [] }
        return network.exec(index)
    }

    /// Starts `node`'s PostgreSQL again (after `kill` or a stop), with the data it has.
    public func restart(_ node: SandboxNode) async throws {
        try await startServer(node)
    }

    private func startServer(_ node: SandboxNode) async throws {
        do {
            try await pgCtl(node, ["-D", node.dataDirectory, "-l", node.logFile, "-w", "-t", "30", "start"])
            started.insert(node.name)
        } catch {
            let log = (try? String(contentsOfFile: node.logFile, encoding: .utf8)) ?? ""
            throw CommandError(command: "pg_ctl start (\(node.name))", status: "failed", output: log)
        }
    }

    /// Waits until every standby reports a streaming WAL receiver.
    public func waitForStreaming(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let out = try await psql(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            if Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) == standbys.count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CommandError(command: "wait for streaming", status: "timed out", output: "standbys did not start streaming within \(timeout)")
    }

    /// Runs SQL with psql over the unix socket and returns the unaligned output.
    @discardableResult
    public func psql(_ node: SandboxNode, _ sql: String) async throws -> String {
        try await runner.run(installation.tool("psql"), ["-X", "-q", "-A", "-t", "-h", node.socketDirectory, "-p", String(node.port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    /// The postmaster's pid, from `postmaster.pid`.
    public func postmasterPID(_ node: SandboxNode) throws -> pid_t {
        let text = try String(contentsOfFile: "\(node.dataDirectory)/postmaster.pid", encoding: .utf8)
        guard let first = text.split(separator: "\n").first, let pid = pid_t(first) else {
            throw CommandError(command: "read postmaster.pid", status: "unreadable", output: text)
        }
        return pid
    }

    /// The fault: SIGKILL to the node's postmaster, as when its machine or region dies.
    public func kill(_ node: SandboxNode) throws -> pid_t {
        let pid = try postmasterPID(node)
        guard Foundation.kill(pid, SIGKILL) == 0 else {
            throw CommandError(command: "kill -9 \(pid)", status: "failed", output: String(cString: strerror(errno)))
        }
        return pid
    }

    /// Removes any `default_transaction_read_only` setting from a stopped node's
    /// `postgresql.auto.conf`: its data as it was before a read-only fence.
    public func forgetReadOnlyFence(_ node: SandboxNode) throws {
        let file = "\(node.dataDirectory)/postgresql.auto.conf"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return }
        try ReadOnlyStart.withoutReadOnlySetting(text).joined(separator: "\n").write(toFile: file, atomically: false, encoding: .utf8)
    }

    /// Turns `node` into a standby of the first node again, whatever it did meanwhile: writes
    /// `standby.signal` and restarts it (`pg_ctl restart -m fast`). A node that was promoted on its
    /// own stays on its own timeline: a forked standby.
    public func restartAsStandby(_ node: SandboxNode) async throws {
        let signal = "\(node.dataDirectory)/standby.signal"
        guard FileManager.default.createFile(atPath: signal, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CommandError(command: "create \(signal)", status: "failed", output: "cannot create the file")
        }
        if CommandRunner.isRoot { try Self.chown(signal, to: "postgres") }
        do {
            try await pgCtl(node, ["-D", node.dataDirectory, "-l", node.logFile, "-m", "fast", "-w", "-t", "30", "restart"])
        } catch {
            let log = (try? String(contentsOfFile: node.logFile, encoding: .utf8)) ?? ""
            throw CommandError(command: "pg_ctl restart (\(node.name))", status: "failed", output: String(log.suffix(2000)))
        }
    }

    /// Stops every server and removes the directory. Safe to call more than once.
    public func destroy() async {
        guard !destroyed else { return }
        destroyed = true
        for node in nodes where started.contains(node.name) {
            if let pid = try? postmasterPID(node), Foundation.kill(pid, 0) == 0 {
                _ = try? await runner.run(installation.tool("pg_ctl"), ["-D", node.dataDirectory, "-m", "immediate", "-w", "-t", "10", "stop"], discardOutput: true)
            }
        }
        // Backends of a SIGKILLed postmaster exit on their own once they notice; give them a moment.
        try? await Task.sleep(for: .milliseconds(100))
        try? FileManager.default.removeItem(atPath: directory)
        block.release()
    }

    private func append(to path: String, _ text: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CommandError(command: "append to \(path)", status: "failed", output: "cannot open for writing")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    private static func chown(_ path: String, to user: String) throws {
        guard let entry = getpwnam(user) else {
            throw CommandError(command: "chown \(path)", status: "failed", output: "no OS user \(user); install postgresql first")
        }
        guard Foundation.chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else {
            throw CommandError(command: "chown \(path)", status: "failed", output: String(cString: strerror(errno)))
        }
    }
}
