import Crypto
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatAgentAPI
import LifeboatPorts
import LifeboatPostgres
import NIOSSL
import Logging
import Prometheus

/// `/healthz`'s answer.
public struct HealthSnapshot: Sendable, Codable {
    public var node: String
    public var region: String
    public var ok: Bool
    public var role: DatabaseRole?
    public var checkedAt: Date
    public var checks: [CheckReport]

    enum CodingKeys: String, CodingKey {
        case node, region, ok, role, checks
        case checkedAt = "checked_at"
    }
}

/// The node agent: health checks behind a short cache, the monitor's signed actions, and file
/// replication. The HTTP layer (`buildAgentRouter`) is a thin shell over this.
public final class Agent: Sendable {
    public let config: AgentConfiguration
    public let verifier: RequestVerifier
    public let replicator: FileReplicator?
    public let metrics: AgentMetrics
    /// `tls:`: this agent's API over HTTPS (nil: plain HTTP) and its calls to https:// monitors and peers.
    public let serverTLS: TLSConfiguration?
    public let clientTLS: TLSConfiguration?
    let postgres: PostgresNode?
    let runner: CheckRunner
    let cache: HealthCache
    let freshRole = FreshValue<DatabaseRole>()
    let logger: Logger
    /// The epoch of the last fence order, so a restarted monitor sees the agent already fenced.
    private let fencedUnder = Mutex<UInt64?>(nil)
    /// True while a rejoin runs here (one at a time).
    let rejoinBusy = Mutex<Bool>(false)
    /// The highest epoch ordered so far (persisted): older fences are refused.
    let epochs: EpochMemory
    /// The primary's lease (with a `lease:` section): renewal and self-fencing.
    public private(set) var leaseKeeper: LeaseKeeper? {
        get { lease.withLock { $0 } }
        set { lease.withLock { $0 = newValue } }
    }
    private let lease = Mutex<LeaseKeeper?>(nil)

    public init(config: AgentConfiguration, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
                rsync: String = "rsync") throws {
        self.config = config
        self.logger = logger
        let key: Secret
        do { key = try config.key.resolve(environment: environment) } catch { throw AgentError("agent key: \(error)") }
        verifier = RequestVerifier(key: AgentSigning.key(key.reveal()))
        epochs = try EpochMemory(file: config.stateFile)
        let keyText = key.reveal()
        var password: Secret?
        if let source = config.database?.password {
            do { password = try source.resolve(environment: environment) } catch { throw AgentError("database password: \(error)") }
        }
        let postgres = config.database.map { PostgresNode(config: $0, password: password, logger: logger) }
        self.postgres = postgres
        runner = try CheckRunner(config: config, postgres: postgres, environment: environment)
        metrics = AgentMetrics(config: config)
        cache = HealthCache(window: config.cacheFor)
        let promiseSlot = PromiseSlot()
        self.promiseSlot = promiseSlot
        let files = config.tls.map { TLSFiles(certFile: $0.certFile, keyFile: $0.keyFile, caFile: $0.caFile, requireClientCertificates: $0.clientCertificates == .require) }
        do {
            serverTLS = try files?.server()
            clientTLS = try files?.client()
        } catch {
            throw AgentError("\(error)")
        }
        let clientTLS = self.clientTLS
        let leaseStatus = config.lease.map { LeaseClient(monitors: $0.monitors, node: config.node, key: keyText, tls: clientTLS) }
        self.leaseStatus = leaseStatus
        if let files = config.files {
            replicator = try FileReplicator(config: files, region: config.region, logger: logger, rsync: rsync, localDatabaseWritable: { [postgres] in
                guard let postgres else { return nil }
                guard case .reachable(let status) = await postgres.probe(timeout: .seconds(2)) else { return nil }
                return !status.inRecovery && !status.readOnly
            }, sourceConfirmed: { order in
                await Self.confirmSource(order, leaseStatus: leaseStatus, promise: promiseSlot)
            })
        } else {
            replicator = nil
        }
        if let leaseConfig = config.lease {
            leaseKeeper = LeaseKeeper(agent: self, config: leaseConfig, key: keyText, logger: logger)
        }
    }

    // MARK: Health

    /// The cached snapshot, refreshed at most once per cache window however many ask at once.
    public func health() async -> HealthSnapshot {
        await cache.get { await self.runChecks() }
    }

    private func runChecks() async -> HealthSnapshot {
        var (reports, role) = await runner.runAll()
        if role == nil, let postgres {
            // No postgresql check configured, but /primary and /replica still need the role.
            role = ((try? await postgres.connectAndQuery(timeout: .seconds(1))).map { Self.role($0) }) ?? .unknown
        }
        let snapshot = HealthSnapshot(node: config.node, region: config.region, ok: reports.allSatisfy(\.ok), role: role,
                                      checkedAt: Date(), checks: reports)
        metrics.record(snapshot)
        return snapshot
    }

    /// The local database's role right now, for `/primary` and `/replica`: from a query that
    /// started after the request arrived (never the health cache), so a promotion or a fence
    /// shows at once.
    public func currentRole() async -> DatabaseRole {
        guard let postgres else { return await health().role ?? .unknown }
        return await freshRole.get {
            ((try? await postgres.connectAndQuery(timeout: .seconds(1))).map { Self.role($0) }) ?? .unknown
        }
    }

    /// The local PostgreSQL refuses connections or dropped them: it is down (not merely slow). From
    /// the probe's kept connection, so a dead postmaster shows within one round trip.
    func localDatabaseDown() async -> Bool {
        guard let postgres else { return false }
        guard case .unreachable(let failure) = await postgres.probe(timeout: .milliseconds(500)) else { return false }
        switch failure.kind {
        case .refused, .failed: return true
        case .timedOut, .unreachable, .rejected: return false
        }
    }

    static func role(_ state: PostgresNode.RoleState) -> DatabaseRole {
        state.inRecovery ? .replica : (state.readOnly ? .fenced : .primary)
    }

    /// The monitor's lease routes (with a `lease:` section): the lease store this agent confirms
    /// epochs and file sources with.
    let leaseStatus: LeaseClient?

    /// Nil when files may be pulled from `order`'s primary region: the monitor says that region's
    /// primary holds the lease under the order's epoch with no failover running — or, while the
    /// monitor cannot be asked, this agent holds a failsafe promise from that primary under that
    /// epoch. Without a `lease:` section there is nothing to ask: nil.
    static func confirmSource(_ order: ReplicationOrder, leaseStatus: LeaseClient?, promise: PromiseSlot) async -> String? {
        guard let leaseStatus else { return nil }
        do {
            let status = try await leaseStatus.status(epoch: order.epoch, timeout: .seconds(1))
            if status.confirmsSource(region: order.primaryRegion, epoch: order.epoch) { return nil }
            if status.failoverRunning { return "a failover is under way (epoch \(status.epoch))" }
            if status.epoch != order.epoch { return "the monitor is at epoch \(status.epoch), the order at \(order.epoch)" }
            if status.primaryRegion != order.primaryRegion { return "the monitor names \(status.primaryRegion ?? "no region") the primary region" }
            return "the primary's lease is \(status.lease.rawValue)"
        } catch {
            let held = promise.value.withLock { held in held.map { $0.epoch == order.epoch && ContinuousClock.now < $0.until } ?? false }
            return held ? nil : "the monitor cannot confirm the source (\(error)) and no failsafe promise is held"
        }
    }

    // MARK: Failsafe promises

    /// The promise this agent gave the primary's agent: not to let this node be promoted until
    /// `until`. Guarded with the epoch check, so a seal and a failsafe request never interleave.
    struct Promise { var holder: String; var epoch: UInt64; var until: ContinuousClock.Instant }
    final class PromiseSlot: Sendable { let value = Mutex<Promise?>(nil) }
    private let promiseSlot: PromiseSlot

    /// A failsafe request from the primary's agent (the monitor is unreachable to it): promise not
    /// to let this node be promoted for `ttl` from now. Refused when a newer epoch is known here (a
    /// failover sealed this agent, or the request is a replay) or when this node itself takes writes.
    public func failsafe(_ request: FailsafeRequest) async -> FailsafeAnswer {
        guard request.primary != config.node else {
            return FailsafeAnswer(granted: false, ttlMilliseconds: nil, refusal: "a node cannot ask itself for a failsafe promise")
        }
        guard (1...300_000).contains(request.ttlMilliseconds) else {
            return FailsafeAnswer(granted: false, ttlMilliseconds: nil, refusal: "ttl_ms must be between 1 and 300000")
        }
        if await currentRole() == .primary {
            return FailsafeAnswer(granted: false, ttlMilliseconds: nil, refusal: "\(config.node) accepts writes itself: no promise for \(request.primary)")
        }
        let answer: FailsafeAnswer = promiseSlot.value.withLock { held in
            let known = epochs.current
            guard request.epoch >= known else {
                return FailsafeAnswer(granted: false, ttlMilliseconds: nil,
                                      refusal: "refused: asked under epoch \(request.epoch), but this agent already follows epoch \(known) (a failover has begun)")
            }
            held = Promise(holder: request.primary, epoch: request.epoch, until: ContinuousClock.now.advanced(by: .milliseconds(request.ttlMilliseconds)))
            return FailsafeAnswer(granted: true, ttlMilliseconds: request.ttlMilliseconds, refusal: nil)
        }
        if answer.granted {
            logger.debug("failsafe promise given", metadata: ["failsafe.holder": "\(request.primary)", "failsafe.epoch": "\(request.epoch)"])
        } else {
            logger.warning("failsafe promise refused", metadata: ["failsafe.holder": "\(request.primary)", "failsafe.reason": "\(answer.refusal ?? "")"])
        }
        return answer
    }

    /// Before this node is promoted under `epoch`: adopt the epoch (persisted), so failsafe requests
    /// under older epochs are refused from now on, and say how long the last promise still runs.
    public func seal(epoch: UInt64) async throws -> PromiseState {
        var state: PromiseState = try promiseSlot.value.withLock { held in
            try epochs.admit(epoch)
            return promiseState(held)
        }
        // No file pull may run into a node about to take writes: stopped, partial output discarded.
        if let replicator {
            state.pullCancelled = await replicator.stopPulls(epoch: epoch)
        }
        logger.warning("sealed for promotion", metadata: ["seal.epoch": "\(epoch)", "failsafe.remaining_ms": "\(state.remainingMilliseconds)"])
        return state
    }

    /// The promise held now, for the monitor's failsafe view.
    public func currentPromise() -> PromiseState { promiseSlot.value.withLock { promiseState($0) } }

    private func promiseState(_ held: Promise?) -> PromiseState {
        let remaining = held.map { max(Duration.zero, ContinuousClock.now.duration(to: $0.until)) } ?? .zero
        return PromiseState(holder: remaining > .zero ? held?.holder : nil, epoch: remaining > .zero ? held?.epoch : nil,
                            remainingMilliseconds: remaining.milliseconds + (remaining > .zero ? 1 : 0), agentEpoch: epochs.current)
    }

    // MARK: Actions

    /// Makes the local PostgreSQL refuse writes, as configured. Idempotent. A fence under an
    /// epoch older than one this agent has already been ordered under is refused (`StaleOrder`):
    /// it comes from before a failover this node has been told about, or is a replay.
    public func fence(epoch: UInt64) async throws -> FenceResult {
        try epochs.admit(epoch)
        fencedUnder.withLock { $0 = max($0 ?? 0, epoch) }
        logger.warning("fence ordered", metadata: ["fence.epoch": "\(epoch)", "fence.method": "\(config.fence.name)"])
        switch config.fence {
        case .readOnly:
            guard let postgres else { return FenceResult(fenced: false, method: "read-only", detail: "no database: section") }
            do {
                switch try await postgres.fence(timeout: .seconds(10)) {
                case .fenced(let detail): return FenceResult(fenced: true, method: "read-only", detail: detail)
                case .unreachable(let reason): return FenceResult(fenced: false, method: "read-only", detail: "local PostgreSQL unreachable: \(reason)")
                }
            } catch {
                return FenceResult(fenced: false, method: "read-only", detail: "\(error)")
            }
        case .stop:
            return await stopLocalPostgres()
        }
    }

    /// Forgets the fence order: the node has rejoined as a standby.
    func clearFence() { fencedUnder.withLock { $0 = nil } }

    /// Remembers a fence order's epoch (the node is out of service under it).
    func noteFenced(under epoch: UInt64) { fencedUnder.withLock { $0 = max($0 ?? 0, epoch) } }

    public func status() async -> StatusReport {
        var report = StatusReport(node: config.node, region: config.region, role: .unknown, fencedUnderEpoch: fencedUnder.withLock { $0 },
                                  configFiles: [], deploymentHash: "")
        if let postgres, case .reachable(let s) = await postgres.probe(timeout: .seconds(2)) {
            report.role = s.inRecovery ? .replica : (s.readOnly ? .fenced : .primary)
            report.currentLSN = s.currentLSN?.description
            report.receiveLSN = s.receiveLSN?.description
            report.replayLSN = s.replayLSN?.description
            report.replayLagSeconds = s.replayLag.map { $0.seconds }
        }
        report.binary = config.deployment.binary.map(Self.hash)
        report.configFiles = config.deployment.configFiles.map(Self.hash)
        // Names and contents, not directories: regions may install under different prefixes.
        let parts = ([report.binary].compactMap { $0 } + report.configFiles).map { "\(($0.path as NSString).lastPathComponent)=\($0.sha256 ?? "missing")" }
        report.deploymentHash = SHA256.hash(data: Array(parts.joined(separator: "\n").utf8)).hex
        report.files = await filesStatus()
        return report
    }

    public func filesStatus() async -> FilesStatus? {
        guard let replicator else { return nil }
        let order = await replicator.currentOrder
        return FilesStatus(epoch: order.epoch, primaryRegion: order.primaryRegion, source: order.primaryRegion == config.region,
                           refusal: await replicator.lastRefusal, paths: await replicator.status())
    }

    /// Adopts the ordered epoch (refusing an older one) and pulls now.
    public func syncNow(epoch: UInt64, primaryRegion: String) async throws -> FilesStatus {
        guard let replicator else { throw AgentError("this agent has no files: section") }
        if let leaseStatus {
            // Adopted only when the lease store confirms it: a signed order with an epoch the store
            // never reached (or a primary region it does not name) changes nothing.
            let status: LeaseStatusResponse
            do { status = try await leaseStatus.status(epoch: epoch, timeout: .seconds(2)) } catch {
                throw SyncRefusal.notConfirmed("cannot confirm epoch \(epoch) with the monitor: \(error)")
            }
            guard status.epoch == epoch, status.primaryRegion == primaryRegion else {
                throw SyncRefusal.notConfirmed("the monitor is at epoch \(status.epoch) with primary region \(status.primaryRegion ?? "none"), the order says epoch \(epoch) and \(primaryRegion)")
            }
        }
        try epochs.admit(epoch)
        try await replicator.accept(epoch: epoch, primaryRegion: primaryRegion)
        await replicator.syncNow()
        let status = await filesStatus()!
        metrics.record(status)
        return status
    }

    /// `pg_ctl stop -m fast` (as `run_as`); already stopped counts as done.
    func stopLocalPostgres() async -> FenceResult {
        guard case .stop(let pgCtl, let dataDirectory, let runAs) = config.fence else {
            return FenceResult(fenced: false, method: "stop", detail: "fence.method is not stop")
        }
        let asUser: ([String]) -> [String] = { argv in runAs.map { ["/usr/sbin/runuser", "-u", $0, "--"] + argv } ?? argv }
        do {
            let outcome = try await ProcessRunner.run(asUser([pgCtl, "stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "30"]), timeout: .seconds(40))
            if outcome.succeeded { return FenceResult(fenced: true, method: "stop", detail: "pg_ctl stop -m fast: server stopped") }
            // Not stopped by this call: already stopped is as good (idempotent). pg_ctl status
            // says which by its exit status: 3 = not running, 4 = no data directory.
            let status = try await ProcessRunner.run(asUser([pgCtl, "status", "-D", dataDirectory]), timeout: .seconds(10))
            if status.exitCode == 3 { return FenceResult(fenced: true, method: "stop", detail: "already stopped") }
            if status.exitCode == 4 { return FenceResult(fenced: true, method: "stop", detail: "no data directory at \(dataDirectory): nothing runs there") }
            return FenceResult(fenced: false, method: "stop", detail: "pg_ctl \(outcome.describe(timeout: .seconds(40)))")
        } catch {
            return FenceResult(fenced: false, method: "stop", detail: "cannot run \(pgCtl): \(error)")
        }
    }

    /// The agent fencing its own PostgreSQL (its lease ran out, or the monitor named another
    /// primary): read-only at once over SQL, then stopped when `fence.method` is `stop` — or when
    /// the read-only fence could not be applied (a hung server must not keep taking writes).
    public func selfFence() async -> FenceResult {
        var readOnly = FenceResult(fenced: false, method: "read-only", detail: "no database: section")
        if let postgres {
            do {
                switch try await postgres.fence(timeout: .seconds(2), connectTimeout: .seconds(2)) {
                case .fenced(let detail): readOnly = FenceResult(fenced: true, method: "read-only", detail: detail)
                case .unreachable(let failure): readOnly = FenceResult(fenced: false, method: "read-only", detail: "local PostgreSQL unreachable: \(failure.detail)")
                }
            } catch {
                readOnly = FenceResult(fenced: false, method: "read-only", detail: "\(error)")
            }
        }
        if case .stop = config.fence {
            let stopped = await stopLocalPostgres()
            return FenceResult(fenced: readOnly.fenced || stopped.fenced, method: "read-only, then stop", detail: "\(readOnly.detail); \(stopped.detail)")
        }
        return readOnly
    }

    /// Keeps a session open for a self-fence while the lease is held; closed when not.
    func prepareSelfFence(_ holding: Bool) async {
        guard let postgres else { return }
        if holding { await postgres.reserveFenceSession(timeout: .seconds(1)) } else { await postgres.releaseFenceSession() }
    }

    /// Undoes a self-fence (read-only) once the monitor has granted the lease again.
    public func liftSelfFence() async -> String {
        guard let postgres else { return "no database: section" }
        do {
            return try await postgres.liftReadOnly(timeout: .seconds(2))
        } catch {
            return "could not lift the read-only fence: \(error)"
        }
    }

    /// SHA-256 of a file, read in 1 MiB pieces.
    static func hash(_ path: String) -> FileHash {
        guard let handle = FileHandle(forReadingAtPath: path) else { return FileHash(path: path, sha256: nil, error: "cannot read") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return FileHash(path: path, sha256: hasher.finalize().hex, error: nil)
    }

    public func shutdown() async {
        await postgres?.close()
    }
}

/// One health computation at a time; everyone asking within the window gets its result.
actor HealthCache {
    let window: Duration
    private var last: (at: ContinuousClock.Instant, value: HealthSnapshot)?
    private var inFlight: Task<HealthSnapshot, Never>?

    init(window: Duration) { self.window = window }

    func get(_ compute: @escaping @Sendable () async -> HealthSnapshot) async -> HealthSnapshot {
        if let last, last.at.duration(to: .now) < window { return last.value }
        if let inFlight { return await inFlight.value }
        let task = Task { await compute() }
        inFlight = task
        let value = await task.value
        last = (ContinuousClock.now, value)
        inFlight = nil
        return value
    }
}

import Synchronization

/// A value computed at most one at a time, where every caller gets a result computed *after*
/// it asked: callers that arrive while a computation runs wait for it, then share the next one.
/// The role endpoints use it so a promotion or a fence shows at once, yet a load balancer
/// hammering them costs one query at a time.
actor FreshValue<Value: Sendable> {
    private var running: (generation: Int, task: Task<Value, Never>)?
    private var started = 0

    func get(_ compute: @escaping @Sendable () async -> Value) async -> Value {
        let arrival = started
        while let current = running, current.generation <= arrival {
            _ = await current.task.value
            if running?.generation == current.generation { running = nil }
        }
        if let current = running { return await current.task.value }
        started += 1
        let generation = started
        let task = Task { await compute() }
        running = (generation, task)
        let value = await task.value
        if running?.generation == generation { running = nil }
        return value
    }
}

/// The highest epoch this agent has been ordered under, kept in `state_file` (written before the
/// order is acted on), so a fence carrying an older epoch is refused — also after a restart.
final class EpochMemory: Sendable {
    private let file: String?
    private let saved: Mutex<Saved>

    init(file: String?) throws {
        self.file = file
        var known = Saved(epoch: 0)
        if let file, FileManager.default.fileExists(atPath: file) {
            guard let data = FileManager.default.contents(atPath: file),
                  let decoded = try? JSONDecoder().decode(Saved.self, from: data) else {
                throw AgentError("\(file): the agent's state is not readable; move it away only if you know no newer epoch was ordered")
            }
            known = decoded
        }
        saved = Mutex(known)
    }

    /// The state file: the highest epoch, and (failsafe mode) the other nodes' agents and the lease's
    /// TTL from the last grant, so a restarted agent can ask them while the monitor is unreachable.
    struct Saved: Codable, Equatable {
        var epoch: UInt64
        var failsafePeers: [FailsafePeer]?
        var ttlMilliseconds: Int64?

        enum CodingKeys: String, CodingKey {
            case epoch
            case failsafePeers = "failsafe_peers", ttlMilliseconds = "lease_ttl_ms"
        }
    }

    var current: UInt64 { saved.withLock { $0.epoch } }

    /// Records `epoch` if it is the highest seen (persisting it first); throws when it is older
    /// than one already seen.
    func admit(_ epoch: UInt64) throws {
        try saved.withLock { state in
            if epoch < state.epoch { throw StaleOrder(ordered: epoch, known: state.epoch) }
            guard epoch > state.epoch else { return }
            var next = state
            next.epoch = epoch
            if let file { try StateFile.write(next, to: file, what: "the agent's state") }
            state = next
        }
    }

    /// Keeps the failsafe peers and TTL of the last grant (written only when they change).
    func remember(failsafePeers: [FailsafePeer]?, ttlMilliseconds: Int64) {
        saved.withLock { state in
            guard state.failsafePeers != failsafePeers || state.ttlMilliseconds != ttlMilliseconds else { return }
            var next = state
            next.failsafePeers = failsafePeers
            next.ttlMilliseconds = ttlMilliseconds
            if let file { try? StateFile.write(next, to: file, what: "the agent's state") }
            state = next
        }
    }

    var rememberedFailsafe: (peers: [FailsafePeer], ttlMilliseconds: Int64)? {
        saved.withLock { state in
            guard let peers = state.failsafePeers, let ttl = state.ttlMilliseconds else { return nil }
            return (peers, ttl)
        }
    }
}

/// An order under an epoch older than one the agent already follows: another monitor (or a
/// replayed request) from before a failover. Refused, nothing done.
public struct StaleOrder: Error, CustomStringConvertible, Sendable, Equatable {
    public var ordered: UInt64
    public var known: UInt64
    public var description: String { "refused: ordered under epoch \(ordered), but this agent already follows epoch \(known)" }
}
