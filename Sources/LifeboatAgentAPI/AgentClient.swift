import AsyncHTTPClient
import Crypto
import Foundation
import LifeboatCore
import LifeboatPorts
import LifeboatProbes
import NIOCore
import NIOSSL

/// The monitor's side: signed requests to one node's agent, each signed for that node.
public struct AgentClient: Sendable {
    public let baseURL: String
    /// The node this agent runs on: every request is signed for it alone.
    public let node: String
    let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    let http: HTTPClient
    /// For https:// agents: the CA trusted and the certificate presented (fresh connections too).
    let tls: TLSConfiguration?

    /// `http`: the pooled client for ordinary calls (made with `HTTPClient.lifeboat(tls:)` when
    /// `tls` is given, shared by every agent client of the process).
    public init(baseURL: String, node: String, key: String, http: HTTPClient = .shared, tls: TLSConfiguration? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.node = node
        self.keyBytes = Array(key.utf8)
        self.http = http
        self.tls = tls
    }

    /// A failed call: `status` is the HTTP status when the agent answered.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var status: Int?
        public var description: String

        /// How the monitor reads it: 401 is a key problem, 409 a refused order, no answer unreachable.
        public var kind: AgentCallError.Kind {
            switch status {
            case nil: return .unreachable
            case 401?: return .unauthorized
            case 409?: return .refused
            default: return .failed
            }
        }
    }

    /// Whether the agent's port accepts a TCP connection within `timeout`: a black-holed region
    /// is given up on quickly, before a request that may legitimately run long (pg_ctl stop).
    public func reachable(within timeout: Duration) async -> Bool {
        guard let url = URL(string: baseURL), let host = url.host else { return false }
        let port = url.port ?? (url.scheme == "https" ? 443 : 80)
        return await TCPHealthCheck(host: host, port: port).check(timeout: timeout).ok
    }

    /// A fence goes out on a connection of its own, with `connectTimeout` to connect: never on a
    /// pooled connection that may have been opened during the fault (its SYN lost in a partition,
    /// it would cost a TCP retransmission timeout after the network heals).
    public func fence(epoch: Epoch, timeout: Duration, connectTimeout: Duration? = nil) async throws -> FenceResult {
        let fresh = HTTPClient.freshConnection(connect: connectTimeout ?? timeout, read: timeout, tls: tls)
        defer { Task { try? await fresh.shutdown() } }
        return try await call("fence", FenceOrder(epoch: epoch.value), epoch: epoch.value, timeout: timeout, accept: [200, 500], using: fresh)
    }

    public func status(timeout: Duration, epoch: Epoch = .initial) async throws -> StatusReport {
        try await call("status", [String: String](), epoch: epoch.value, timeout: timeout)
    }

    /// Failsafe: asks this node's agent not to let its node be promoted for `ttl` (sent by the
    /// primary's agent, on a fresh connection: it runs while the network may be failing).
    public func failsafe(primary: String, epoch: Epoch, ttl: Duration, timeout: Duration) async throws -> FailsafeAnswer {
        let fresh = HTTPClient.freshConnection(connect: timeout, read: timeout, tls: tls)
        defer { Task { try? await fresh.shutdown() } }
        return try await call("failsafe", FailsafeRequest(primary: primary, epoch: epoch.value, ttlMilliseconds: ttl.milliseconds),
                              epoch: epoch.value, timeout: timeout, accept: [200, 409], using: fresh)
    }

    /// Before promoting this node under `epoch`: its agent refuses failsafe requests under older
    /// epochs from now on and says how long its last promise still runs.
    public func seal(epoch: Epoch, timeout: Duration) async throws -> PromiseState {
        let fresh = HTTPClient.freshConnection(connect: timeout, read: timeout, tls: tls)
        defer { Task { try? await fresh.shutdown() } }
        return try await call("seal", SealOrder(epoch: epoch.value), epoch: epoch.value, timeout: timeout, using: fresh)
    }

    /// The failsafe promise this node's agent holds.
    public func promise(timeout: Duration) async throws -> PromiseState {
        try await call("promise", [String: String](), epoch: 0, timeout: timeout)
    }

    /// Makes this node a streaming standby of `order.primary`. A refusal (409) or a failed step
    /// (500) comes back as `RejoinFailure`.
    public func rejoin(_ order: RejoinOrder, timeout: Duration) async throws -> RejoinReport {
        let fresh = HTTPClient.freshConnection(connect: .seconds(5), read: timeout, tls: tls)
        defer { Task { try? await fresh.shutdown() } }
        let answer: RejoinAnswer = try await call("rejoin", order, epoch: order.epoch, timeout: timeout, accept: [200, 409, 500], using: fresh)
        if let report = answer.report { return report }
        throw answer.failure ?? RejoinFailure(step: "answer", error: "the agent's answer had neither a report nor an error", phases: [])
    }

    /// Stops the (fenced) old primary of a switchover cleanly; the answer says where its WAL ends.
    /// A refusal (409: no postgresql: section, a stale epoch) or a failure throws `Failure`.
    public func demote(epoch: Epoch, timeout: Duration) async throws -> DemoteResult {
        try await call("demote", FenceOrder(epoch: epoch.value), epoch: epoch.value, timeout: timeout)
    }

    /// Asks this agent to check `targets` from where it stands.
    public func probe(_ targets: [ProbeOrder.Target], checkTimeout: Duration, timeout: Duration) async throws -> ProbeAnswer {
        try await call("probe", ProbeOrder(targets: targets, timeoutMilliseconds: Int(checkTimeout.milliseconds)), epoch: 0, timeout: timeout)
    }

    public func syncNow(epoch: Epoch, primaryRegion: String, timeout: Duration) async throws -> FilesStatus {
        try await call("sync-now", SyncOrder(epoch: epoch.value, primaryRegion: primaryRegion), epoch: epoch.value, timeout: timeout)
    }

    private func call<Body: Encodable, Answer: Decodable>(_ action: String, _ body: Body, epoch: UInt64, timeout: Duration,
                                                          accept: Set<Int> = [200], using client: HTTPClient? = nil) async throws -> Answer {
        let path = "/v1/actions/\(action)"
        let bytes = Array(try JSONEncoder().encode(body))
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "lifeboat-monitor")
        for (name, value) in AgentSigning.headers(key: key, method: "POST", path: path, node: node, epoch: epoch, body: bytes) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(bytes)
        let response: HTTPClientResponse
        do {
            response = try await (client ?? http).execute(request, timeout: .milliseconds(timeout.milliseconds))
        } catch {
            throw Failure(status: nil, description: "agent \(baseURL) unreachable: \(error)")
        }
        let data = try await response.body.collect(upTo: 4 << 20)
        let status = Int(response.status.code)
        guard accept.contains(status) else {
            let text = String(buffer: data)
            throw Failure(status: status, description: "agent \(baseURL) answered \(status) to \(action): \(LogSafe.escape(String(text.prefix(300)), maxLength: 300))")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(Answer.self, from: Data(data.readableBytesView)) } catch {
            throw Failure(status: status, description: "agent \(baseURL) sent an unreadable \(action) answer: \(error)")
        }
    }
}

/// One node's agent as the monitor's `NodeAgent` port.
public struct HTTPNodeAgent: NodeAgent {
    public let node: String
    public let region: String
    public let client: AgentClient

    public init(node: String, region: String, client: AgentClient) {
        self.node = node
        self.region = region
        self.client = client
    }

    public var endpoint: String { client.baseURL }

    public func status(timeout: Duration) async throws -> AgentReport {
        let report: StatusReport
        do { report = try await client.status(timeout: timeout) } catch let failure as AgentClient.Failure {
            throw AgentCallError(failure.kind, failure.description)
        }
        let now = Date()
        let files = ([report.binary?.path].compactMap { $0 } + report.configFiles.map(\.path)).map { ($0 as NSString).lastPathComponent }
        return AgentReport(role: report.role.rawValue, deploymentHash: report.deploymentHash, deploymentFiles: files,
                           files: report.files.map { Self.files($0, now: now) })
    }

    public func syncNow(_ order: ReplicationOrder, timeout: Duration) async throws -> AgentFilesReport {
        do {
            return Self.files(try await client.syncNow(epoch: Epoch(order.epoch), primaryRegion: order.primaryRegion, timeout: timeout), now: Date())
        } catch let failure as AgentClient.Failure {
            throw AgentCallError(failure.kind, failure.description)
        }
    }

    public func failsafePromise(timeout: Duration) async throws -> FailsafePromiseReport? {
        let state: PromiseState
        do { state = try await client.promise(timeout: timeout) } catch let failure as AgentClient.Failure {
            throw AgentCallError(failure.kind, failure.description)
        }
        guard let holder = state.holder, state.remainingMilliseconds > 0 else { return nil }
        return FailsafePromiseReport(holder: holder, epoch: Epoch(state.epoch ?? 0), remaining: .milliseconds(state.remainingMilliseconds))
    }

    static func files(_ status: FilesStatus, now: Date) -> AgentFilesReport {
        AgentFilesReport(
            order: ReplicationOrder(epoch: status.epoch, primaryRegion: status.primaryRegion), source: status.source, refusal: status.refusal,
            paths: status.paths.map {
                AgentPathReport(name: $0.name, ageSeconds: $0.ageSeconds(now: now), lastBytes: $0.lastBytes, errors: $0.errors, lastError: $0.lastError)
            })
    }
}

/// The engine's fencing through the node's agent when it has one and it answers; SQL otherwise.
/// An agent can also stop PostgreSQL (`fence.method: stop`), which SQL cannot.
///
/// In failsafe mode (`seal`), a promotion first seals the candidate's agent: from then on it refuses
/// the old primary's failsafe requests, and the promotion waits out the last promise it gave — by
/// its end the old primary, refused, has fenced itself. A candidate whose agent cannot be sealed is
/// not promoted (it may be promising the old primary that it will not be).
public struct AgentFencingFleet: FleetDecorator {
    public let base: any DatabaseFleet
    let agents: [String: AgentClient]
    let seal: Bool

    public init(base: any DatabaseFleet, agents: [String: AgentClient], seal: Bool = false) {
        self.base = base
        self.agents = agents
        self.seal = seal
    }

    /// The agent first (it can also stop PostgreSQL), SQL when the agent does not fence. Not
    /// both at once: each terminates the other's session. An agent that does not accept a
    /// connection within `connectTimeout` is skipped, so a lost region costs that long at most.
    public func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome {
        guard let agent = agents[node] else { return try await base.fence(node, epoch: epoch, timeout: timeout, connectTimeout: connectTimeout) }
        // Whether the agent and PostgreSQL answer, found out at once: a cut-off region costs one
        // connect timeout, not one per path.
        async let agentUp = agent.reachable(within: connectTimeout)
        async let databaseProbe = base.probe(node, timeout: connectTimeout)
        let note: String
        if await agentUp {
            do {
                let result = try await agent.fence(epoch: epoch, timeout: timeout, connectTimeout: connectTimeout)
                if result.fenced { return .fenced(detail: "by its agent, \(result.method): \(result.detail)") }
                note = "its agent could not fence (\(result.detail))"
            } catch {
                note = "\(error)"
            }
        } else {
            note = "its agent at \(agent.baseURL) did not answer within \(DurationText.format(connectTimeout))"
            if case .unreachable(let failure) = await databaseProbe, failure.kind == .timedOut || failure.kind == .unreachable {
                // Neither path answers: the region is cut off (or gone). Not fenced, and nothing more to try.
                return .unreachable(ProbeFailure(failure.kind, "\(failure.detail); \(note)"))
            }
        }
        return annotate(try await base.fence(node, epoch: epoch, timeout: timeout, connectTimeout: connectTimeout), note)
    }

    /// A switchover's catch-up with a clean demote: the old primary's agent stops it
    /// (`pg_ctl stop -m fast`, its WAL senders sending everything first) and says where its WAL
    /// ends; the candidate is caught up once it has replayed past that shutdown checkpoint. The
    /// old primary then has nothing the new one lacks, so it rejoins without a rewind. An old
    /// primary whose agent cannot stop it (no postgresql: section, unreachable) is caught up with
    /// over SQL as without an agent, and stays up, fenced.
    public func waitCaughtUp(_ node: String, primary: String, epoch: Epoch, timeout: Duration) async throws -> String {
        guard let agent = agents[primary] else { return try await base.waitCaughtUp(node, primary: primary, epoch: epoch, timeout: timeout) }
        let clock = ContinuousClock()
        let start = clock.now
        let demoted: DemoteResult
        do {
            demoted = try await agent.demote(epoch: epoch, timeout: timeout)
        } catch {
            let detail = try await base.waitCaughtUp(node, primary: primary, epoch: epoch, timeout: timeout - start.duration(to: clock.now))
            return "\(detail) (\(primary) not stopped cleanly, it stays up fenced: \(error))"
        }
        guard let end = demoted.checkpointLSN else {
            throw StepError(.failed, "\(primary)'s agent named no readable shutdown checkpoint (\(LogSafe.escape(demoted.checkpoint, maxLength: 40)))")
        }
        var last = "no answer"
        while start.duration(to: clock.now) < timeout {
            if case .reachable(let status) = await base.probe(node, timeout: min(timeout, .seconds(2))) {
                if let replayed = status.replayLSN, replayed > end {
                    return "\(primary) stopped cleanly by its agent (\(demoted.detail)); \(node) replayed past it, to \(replayed), after \(DurationText.format(start.duration(to: clock.now)))"
                }
                last = "replayed \(status.replayLSN.map { "\($0)" } ?? "nothing"), received \(status.receiveLSN.map { "\($0)" } ?? "nothing")"
            }
            try await clock.sleep(for: .milliseconds(20))
        }
        throw StepError(.failed, "\(node) has not replayed \(primary)'s shutdown checkpoint at \(end) within \(DurationText.format(timeout)) (\(last))")
    }

    private func annotate(_ outcome: FenceOutcome, _ note: String) -> FenceOutcome {
        switch outcome {
        case .fenced(let detail): .fenced(detail: "\(detail) over SQL, as \(note)")
        case .unreachable(let failure): .unreachable(ProbeFailure(failure.kind, "\(failure.detail); \(note)"))
        }
    }

    /// Seals the candidate's agent first (when it has one): it stops any file pull into the node
    /// (partial output discarded) and, in failsafe mode, refuses the old primary's promises from now
    /// on and says how long its last one runs, which is waited out. In failsafe mode a candidate whose
    /// agent cannot be sealed is not promoted; otherwise the promotion goes ahead with a note.
    public func promote(_ node: String, epoch: Epoch, timeout: Duration) async throws -> String {
        guard let agent = agents[node] else {
            if seal {
                throw StepError(.failed, "failsafe mode: \(node) has no agent to seal; not promoting it (configure its agent, or set failover.failsafe: false)")
            }
            return try await base.promote(node, epoch: epoch, timeout: timeout)
        }
        let clock = ContinuousClock()
        let started = clock.now
        let state: PromiseState
        do {
            state = try await agent.seal(epoch: epoch, timeout: min(timeout, .seconds(2)))
        } catch let failure as AgentClient.Failure {
            guard seal else {
                let detail = try await base.promote(node, epoch: epoch, timeout: timeout - started.duration(to: clock.now))
                return "\(detail) (its agent could not be sealed, so a file pull into it may still run: \(failure.description))"
            }
            throw StepError(failure.kind == .unreachable ? .unreachable : .failed,
                            "failsafe mode: cannot seal \(node)'s agent, so it may still promise the old primary not to be promoted; not promoting it yet: \(failure.description)")
        }
        var note = "its agent is sealed under epoch \(state.agentEpoch)"
        if state.pullCancelled == true { note += ", a file pull into it cancelled" }
        if seal, state.remainingMilliseconds > 0 {
            let wait = Duration.milliseconds(state.remainingMilliseconds)
            let left = timeout - started.duration(to: clock.now)
            guard wait < left else {
                throw StepError(.failed, "failsafe mode: \(node)'s agent promised \(state.holder ?? "the old primary") not to be promoted for \(DurationText.format(wait)) more; retrying the promotion after that")
            }
            try await clock.sleep(for: wait)
            note += "; waited \(DurationText.format(wait)) for the failsafe promise it gave \(state.holder ?? "the old primary") to run out"
        }
        let detail = try await base.promote(node, epoch: epoch, timeout: timeout - started.duration(to: clock.now))
        return "\(detail) (\(note))"
    }
}

extension HTTPClient {
    /// A client for one request on a connection of its own (no pool to reuse a connection opened
    /// during a network fault). The caller shuts it down.
    static func freshConnection(connect: Duration, read: Duration, tls: TLSConfiguration? = nil) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.timeout = .init(connect: .milliseconds(connect.milliseconds), read: .milliseconds(read.milliseconds))
        configuration.connectionPool = .init(idleTimeout: .milliseconds(1), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
