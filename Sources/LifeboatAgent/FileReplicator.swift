import Foundation
import LifeboatConfig
import LifeboatAgentAPI
import LifeboatCore
import Logging

/// Why a sync did not happen.
public enum SyncRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The order names an epoch older than one this agent already follows.
    case staleEpoch(ordered: UInt64, known: UInt64)
    /// Same epoch, another primary: two monitors disagree; nothing is done until one wins.
    case conflictingPrimary(epoch: UInt64, ordered: String, known: String)
    case unknownRegion(String)
    /// The lease store (the monitor) does not confirm the order's epoch and primary region.
    case notConfirmed(String)

    public var description: String {
        switch self {
        case .notConfirmed(let why):
            "refused: \(why)"
        case .staleEpoch(let ordered, let known):
            "refused: the sync was ordered under epoch \(ordered), but this agent already follows epoch \(known)"
        case .conflictingPrimary(let epoch, let ordered, let known):
            "refused: epoch \(epoch) already has primary region \(known), the order says \(ordered)"
        case .unknownRegion(let region):
            "refused: no files.sources entry for region '\(region)'"
        }
    }
}

/// Pulls the configured paths from the primary region with rsync. Standbys pull; nothing is ever
/// pushed, and a region that is (or whose database is) primary is never written to.
public actor FileReplicator {
    public let config: FilesConfig
    public let region: String
    private let logger: Logger
    /// True when the local database accepts writes (not in recovery, not fenced): then this node is
    /// a primary whatever the order says, and pulling into it is refused.
    private let localDatabaseWritable: @Sendable () async -> Bool?
    /// Nil when files may be pulled from `order`'s primary region now (its primary holds the lease
    /// under that epoch), else why not. Asked before each pass and every second during one.
    private let sourceConfirmed: @Sendable (ReplicationOrder) async -> String?
    private let rsync: String
    /// A promotion of this node under this epoch is coming (the monitor sealed the agent): no pull
    /// runs until an order of at least this epoch is adopted.
    private var sealedEpoch: UInt64 = 0
    /// Why the running pass must stop now (set by a seal or a newer order).
    private var stopReason: String?
    /// Passes cancelled before their end (their partial output discarded).
    public private(set) var passesCancelled = 0
    private(set) var order: ReplicationOrder
    private var statuses: [String: PathSyncStatus]
    private var running: Task<[PathSyncStatus], Never>?
    public private(set) var lastRefusal: String?

    public init(config: FilesConfig, region: String, logger: Logger, rsync: String = "rsync",
                localDatabaseWritable: @escaping @Sendable () async -> Bool? = { nil },
                sourceConfirmed: @escaping @Sendable (ReplicationOrder) async -> String? = { _ in nil }) throws {
        self.sourceConfirmed = sourceConfirmed
        self.config = config
        self.region = region
        self.logger = logger
        self.rsync = rsync
        self.localDatabaseWritable = localDatabaseWritable
        order = try Self.loadOrder(config.stateFile) ?? ReplicationOrder(epoch: 0, primaryRegion: config.primaryRegion)
        statuses = Dictionary(uniqueKeysWithValues: config.paths.map { ($0.name, PathSyncStatus(name: $0.name, path: $0.path)) })
    }

    public var currentOrder: ReplicationOrder { order }
    public var isSource: Bool { order.primaryRegion == region }
    public func status() -> [PathSyncStatus] { config.paths.compactMap { statuses[$0.name] } }

    /// Adopts a newer epoch's primary region (persisted before it is acted on). An older epoch,
    /// or the same epoch with a different primary, is refused and changes nothing.
    public func accept(epoch: UInt64, primaryRegion: String) async throws {
        if epoch < order.epoch { throw SyncRefusal.staleEpoch(ordered: epoch, known: order.epoch) }
        if epoch == order.epoch, primaryRegion != order.primaryRegion, epoch > 0 {
            throw SyncRefusal.conflictingPrimary(epoch: epoch, ordered: primaryRegion, known: order.primaryRegion)
        }
        if primaryRegion != region, config.source(of: primaryRegion) == nil { throw SyncRefusal.unknownRegion(primaryRegion) }
        let new = ReplicationOrder(epoch: epoch, primaryRegion: primaryRegion)
        guard new != order else { return }
        // A pass under the old order stops now, its partial output discarded.
        await stopRunningPass("epoch \(epoch) names \(primaryRegion) the primary region")
        try Self.saveOrder(new, to: config.stateFile)
        logger.notice("file replication follows a new epoch", metadata: ["epoch": "\(epoch)", "files.primary_region": "\(primaryRegion)"])
        order = new
    }

    /// Before this node is promoted under `epoch`: cancels the running pass (rsync stopped, its
    /// partial output discarded) and pulls nothing more until an order of at least that epoch is
    /// adopted. Returns once no rsync of this agent runs; true when a pass was cancelled.
    @discardableResult
    public func stopPulls(epoch: UInt64) async -> Bool {
        sealedEpoch = max(sealedEpoch, epoch)
        return await stopRunningPass("this node is about to be promoted under epoch \(epoch)")
    }

    private func stopRunningPass(_ reason: String) async -> Bool {
        guard let current = running else { return false }
        stopReason = reason
        _ = await current.value
        return true
    }

    /// Runs one pass over every path now, after any pass already running. Never two passes at
    /// once: callers that wait for the same running pass would otherwise all start their own
    /// when it ends (the actor is reentrant), and two rsyncs would write into the same directory.
    @discardableResult
    public func syncNow() async -> [PathSyncStatus] {
        while let current = running {
            _ = await current.value
            if running == current { running = nil }
        }
        // No suspension between the check above and claiming the slot here.
        let task = Task { await self.pass() }
        running = task
        let result = await task.value
        if running == task { running = nil }
        return result
    }

    /// Passes started so far, and the most that ever ran at once (tests check it stays 1).
    public private(set) var passesStarted = 0
    public private(set) var mostAtOnce = 0
    private var atOnce = 0

    /// Syncs every `interval` until cancelled.
    public func run() async {
        while !Task.isCancelled {
            await syncNow()
            try? await Task.sleep(for: config.interval)
        }
    }

    private func pass() async -> [PathSyncStatus] {
        passesStarted += 1
        atOnce += 1
        mostAtOnce = max(mostAtOnce, atOnce)
        defer { atOnce -= 1 }
        stopReason = nil
        let order = self.order
        if order.primaryRegion == region {
            lastRefusal = nil
            for name in statuses.keys { statuses[name]?.source = nil }
            return status()
        }
        if sealedEpoch > order.epoch {
            lastRefusal = "not pulling: this node is being promoted under epoch \(sealedEpoch)"
            return status()
        }
        if await localDatabaseWritable() == true {
            let reason = "refused: the local database accepts writes, so this node is a primary; epoch \(order.epoch) names \(order.primaryRegion). Not pulling into it."
            lastRefusal = reason
            logger.error("file sync refused", metadata: ["files.reason": "\(reason)"])
            for name in statuses.keys { statuses[name]?.errors += 1; statuses[name]?.lastError = reason }
            return status()
        }
        if let why = await sourceConfirmed(order) {
            // The source region's primary does not hold the lease under this epoch (a failover has
            // begun, or the monitor cannot say): what it writes now must not arrive here.
            lastRefusal = "not pulling from \(order.primaryRegion): \(why)"
            logger.notice("file sync held", metadata: ["files.reason": "\(why)"])
            return status()
        }
        lastRefusal = nil
        guard let source = config.source(of: order.primaryRegion) else { return status() }
        for path in config.paths {
            let outcome = await pull(path, from: source, order: order)
            // The order may have changed while rsync ran; the result still describes that pull.
            statuses[path.name] = outcome
            if stopReason != nil { break }
        }
        return status()
    }

    /// Why the pass under `order` must stop now, or nil: a seal or a newer order, the local database
    /// taking writes, or (checked every `confirmEvery`) the source no longer holding the lease.
    private func mustStop(_ order: ReplicationOrder, confirm: Bool) async -> String? {
        if let stopReason { return stopReason }
        if self.order != order { return "the order changed to epoch \(self.order.epoch)" }
        if await localDatabaseWritable() == true { return "the local database accepts writes" }
        if confirm, let why = await sourceConfirmed(order) { return why }
        return nil
    }

    static let watchEvery: Duration = .milliseconds(200)
    static let confirmEvery = 5

    /// The rsync command line for one path (public so `--dry-run` style tooling and tests can read it).
    public func command(for path: FilesConfig.SyncedPath, from source: FilesConfig.Source) -> [String] {
        var argv = [rsync, "--archive", "--stats", "--delay-updates", "--exclude=\(Self.holdingDirectory)/"]
        // Whole-file writes into a temporary file renamed into place: a failed or interrupted
        // transfer never leaves a half-written file (no --inplace, --partial or --append). With
        // --delay-updates every updated file waits in a holding directory (.~tmp~) until the whole
        // pass is done, so a cancelled pass changes nothing; holding directories never travel.
        argv.append("--timeout=\(max(10, Int(config.timeout.components.seconds)))")
        if let limit = config.bandwidthLimitKiB { argv.append("--bwlimit=\(limit)") }
        for pattern in config.excludes { argv.append("--exclude=\(pattern)") }
        if config.delete { argv += ["--delete", "--delete-delay"] }
        let from: String
        switch source {
        case .daemon(let host, let port):
            from = "rsync://\(host)\(port.map { ":\($0)" } ?? "")/\(path.name)/"
        case .ssh(let user, let host, let port):
            var ssh = "ssh -o BatchMode=yes"
            if let port { ssh += " -p \(port)" }
            if let extra = config.sshCommand { ssh += " \(extra)" }
            argv += ["-e", ssh]
            from = "\(user.map { "\($0)@" } ?? "")\(host):\(path.path.hasSuffix("/") ? path.path : path.path + "/")"
        case .local(let dir):
            from = "\(dir.hasSuffix("/") ? String(dir.dropLast()) : dir)/\(path.name)/"
        }
        argv += [from, path.path.hasSuffix("/") ? path.path : path.path + "/"]
        return argv
    }

    enum Ended: Sendable { case finished(ProcessOutcome), stopped(String) }

    /// rsync's holding directory for --delay-updates (its default --partial-dir).
    public static let holdingDirectory = ".~tmp~"

    /// `setpriv --pdeathsig KILL`: rsync dies with the agent, even when the agent is killed outright.
    static let setpriv = "/usr/bin/setpriv"

    private func pull(_ path: FilesConfig.SyncedPath, from source: FilesConfig.Source, order: ReplicationOrder) async -> PathSyncStatus {
        var status = statuses[path.name] ?? PathSyncStatus(name: path.name, path: path.path)
        status.source = "\(source)"
        status.lastAttempt = Date()
        do {
            try FileManager.default.createDirectory(atPath: path.path, withIntermediateDirectories: true)
            var argv = command(for: path, from: source)
            if FileManager.default.isExecutableFile(atPath: Self.setpriv) { argv = [Self.setpriv, "--pdeathsig", "KILL", "--"] + argv }
            let timeout = config.timeout
            let command = argv
            let ended: Ended = try await withThrowingTaskGroup(of: Ended?.self) { group in
                group.addTask { .finished(try await ProcessRunner.run(command, timeout: timeout)) }
                group.addTask {
                    var round = 0
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.watchEvery)
                        if Task.isCancelled { return nil }
                        round += 1
                        if let why = await self.mustStop(order, confirm: round % Self.confirmEvery == 0) { return .stopped(why) }
                    }
                    return nil
                }
                while let next = try await group.next() {
                    guard let next else { continue }
                    // Either rsync ended, or it must stop: cancelling its task tears it down
                    // (SIGTERM, SIGKILL 2 s later) and waits for it.
                    group.cancelAll()
                    return next
                }
                throw CancellationError()
            }
            switch ended {
            case .stopped(let why):
                discardHeldUpdates(in: path.path)
                passesCancelled += 1
                status.lastError = "pass cancelled, its partial output discarded: \(why)"
                logger.warning("file sync cancelled", metadata: ["files.path": "\(path.name)", "files.reason": "\(why)"])
            case .finished(let outcome):
                status.lastDuration = outcome.duration.seconds
                if outcome.succeeded {
                    let bytes = Self.bytesReceived(outcome.output)
                    status.lastSuccess = Date()
                    status.lastBytes = bytes
                    status.totalBytes += bytes
                    status.lastError = nil
                    logger.debug("file sync done", metadata: ["files.path": "\(path.name)", "files.bytes": "\(bytes)"])
                } else {
                    discardHeldUpdates(in: path.path)
                    status.errors += 1
                    status.lastError = "rsync \(outcome.describe(timeout: config.timeout))"
                    logger.warning("file sync failed", metadata: ["files.path": "\(path.name)", "files.error": "\(status.lastError!)"])
                }
            }
        } catch {
            status.errors += 1
            status.lastError = "cannot run rsync: \(error)"
            logger.warning("file sync failed", metadata: ["files.path": "\(path.name)", "files.error": "\(status.lastError!)"])
        }
        return status
    }

    /// Removes the holding directories a cancelled or failed pass left under `root`: its updates
    /// never land.
    func discardHeldUpdates(in root: String) {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        var holding: [String] = []
        while let entry = walker.nextObject() as? String {
            if (entry as NSString).lastPathComponent == Self.holdingDirectory {
                holding.append("\(root)/\(entry)")
                walker.skipDescendants()
            }
        }
        for directory in holding { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// `Total bytes received: 1234` from `rsync --stats`.
    static func bytesReceived(_ stats: String) -> UInt64 {
        for line in stats.split(separator: "\n") where line.hasPrefix("Total bytes received:") {
            let digits = line.dropFirst("Total bytes received:".count).filter { $0.isNumber }
            return UInt64(digits) ?? 0
        }
        return 0
    }

    static func loadOrder(_ file: String) throws -> ReplicationOrder? {
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let data = FileManager.default.contents(atPath: file) else { throw AgentError("\(file): cannot read the replication state") }
        do { return try JSONDecoder().decode(ReplicationOrder.self, from: data) } catch {
            throw AgentError("\(file): the replication state is not valid (\(error)); move it away to start from files.primary_region")
        }
    }

    static func saveOrder(_ order: ReplicationOrder, to file: String) throws {
        try StateFile.write(order, to: file, what: "the replication state")
    }
}
