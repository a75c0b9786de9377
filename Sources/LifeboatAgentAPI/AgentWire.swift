import Foundation
import LifeboatCore

/// What the local database is, as the agent saw it.
public enum DatabaseRole: String, Sendable, Codable {
    /// `primary`: accepts writes. `fenced`: out of recovery but read-only. `unknown`: not reachable.
    case primary, replica, fenced, unknown
}

/// `POST /v1/actions/fence`.
public struct FenceOrder: Codable, Sendable {
    public var epoch: UInt64
    public init(epoch: UInt64) { self.epoch = epoch }
}

/// `POST /v1/actions/sync-now`.
public struct SyncOrder: Codable, Sendable {
    public var epoch: UInt64
    public var primaryRegion: String

    public init(epoch: UInt64, primaryRegion: String) {
        self.epoch = epoch
        self.primaryRegion = primaryRegion
    }

    enum CodingKeys: String, CodingKey {
        case epoch
        case primaryRegion = "primary_region"
    }
}

/// `POST /v1/actions/failsafe`: sent by the primary's agent to every other node's agent while the
/// monitor is unreachable (failsafe mode), signed for the receiving node.
public struct FailsafeRequest: Codable, Sendable {
    /// The primary asking (the sender's node).
    public var primary: String
    public var epoch: UInt64
    /// How long the promise is asked for: the lease's TTL.
    public var ttlMilliseconds: Int64

    public init(primary: String, epoch: UInt64, ttlMilliseconds: Int64) {
        self.primary = primary
        self.epoch = epoch
        self.ttlMilliseconds = ttlMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case primary, epoch
        case ttlMilliseconds = "ttl_ms"
    }
}

/// The failsafe answer: the promise is held from when the request arrived for `ttl_ms`.
public struct FailsafeAnswer: Codable, Sendable, Equatable {
    public var granted: Bool
    public var ttlMilliseconds: Int64?
    public var refusal: String?

    public init(granted: Bool, ttlMilliseconds: Int64?, refusal: String?) {
        self.granted = granted
        self.ttlMilliseconds = ttlMilliseconds
        self.refusal = refusal
    }

    enum CodingKeys: String, CodingKey {
        case granted, refusal
        case ttlMilliseconds = "ttl_ms"
    }
}

/// `POST /v1/actions/seal`: the monitor, before promoting this node under `epoch`, makes its agent
/// refuse every failsafe request under an older epoch, and learns how long the last promise runs.
public struct SealOrder: Codable, Sendable {
    public var epoch: UInt64
    public init(epoch: UInt64) { self.epoch = epoch }
}

/// A failsafe promise held by an agent (`seal`'s and `promise`'s answer).
public struct PromiseState: Codable, Sendable, Equatable {
    /// The node whose agent holds the promise (nil: none held).
    public var holder: String?
    public var epoch: UInt64?
    /// How much longer the promise runs (0: none, or over).
    public var remainingMilliseconds: Int64
    /// The epoch the agent follows (after `seal`: at least the sealed one).
    public var agentEpoch: UInt64
    /// `seal` only: a file pull was running and has been cancelled (its partial output discarded).
    public var pullCancelled: Bool?

    public init(holder: String?, epoch: UInt64?, remainingMilliseconds: Int64, agentEpoch: UInt64) {
        self.holder = holder
        self.epoch = epoch
        self.remainingMilliseconds = remainingMilliseconds
        self.agentEpoch = agentEpoch
    }

    enum CodingKeys: String, CodingKey {
        case holder, epoch
        case remainingMilliseconds = "remaining_ms", agentEpoch = "agent_epoch", pullCancelled = "pull_cancelled"
    }
}

/// The fence action's answer.
public struct FenceResult: Sendable, Codable {
    public var fenced: Bool
    public var method: String
    public var detail: String

    public init(fenced: Bool, method: String, detail: String) {
        self.fenced = fenced
        self.method = method
        self.detail = detail
    }
}

/// One replicated path's record, for `/metrics`, `status` and the monitor.
public struct PathSyncStatus: Sendable, Codable, Equatable {
    public var name: String
    public var path: String
    /// Where this path was last pulled from (nil while this region is the source).
    public var source: String?
    public var lastSuccess: Date?
    public var lastAttempt: Date?
    public var lastBytes: UInt64 = 0
    public var totalBytes: UInt64 = 0
    public var errors: UInt64 = 0
    public var lastError: String?
    public var lastDuration: Double?

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    public func ageSeconds(now: Date = Date()) -> Double? { lastSuccess.map { now.timeIntervalSince($0) } }

    enum CodingKeys: String, CodingKey {
        case name, path, source, errors
        case lastSuccess = "last_success", lastAttempt = "last_attempt", lastBytes = "last_bytes", totalBytes = "total_bytes"
        case lastError = "last_error", lastDuration = "last_duration_seconds"
    }
}

/// File replication as the agent runs it.
public struct FilesStatus: Sendable, Codable {
    public var epoch: UInt64
    public var primaryRegion: String
    public var source: Bool
    public var refusal: String?
    public var paths: [PathSyncStatus]

    public init(epoch: UInt64, primaryRegion: String, source: Bool, refusal: String?, paths: [PathSyncStatus]) {
        self.epoch = epoch
        self.primaryRegion = primaryRegion
        self.source = source
        self.refusal = refusal
        self.paths = paths
    }

    enum CodingKeys: String, CodingKey {
        case epoch, source, refusal, paths
        case primaryRegion = "primary_region"
    }
}

/// A deployed file and its SHA-256.
public struct FileHash: Sendable, Codable, Equatable {
    public var path: String
    public var sha256: String?
    public var error: String?

    public init(path: String, sha256: String?, error: String?) {
        self.path = path
        self.sha256 = sha256
        self.error = error
    }
}

/// The status action's answer.
public struct StatusReport: Sendable, Codable {
    public var node: String
    public var region: String
    public var role: DatabaseRole
    public var currentLSN: String?
    public var receiveLSN: String?
    public var replayLSN: String?
    public var replayLagSeconds: Double?
    public var fencedUnderEpoch: UInt64?
    public var binary: FileHash?
    public var configFiles: [FileHash]
    /// One hash over the binary's and the config files' names and contents: equal across
    /// regions when the deployments match.
    public var deploymentHash: String
    public var files: FilesStatus?

    public init(node: String, region: String, role: DatabaseRole, fencedUnderEpoch: UInt64?, configFiles: [FileHash], deploymentHash: String) {
        self.node = node
        self.region = region
        self.role = role
        self.fencedUnderEpoch = fencedUnderEpoch
        self.configFiles = configFiles
        self.deploymentHash = deploymentHash
    }

    enum CodingKeys: String, CodingKey {
        case node, region, role, binary, files
        case currentLSN = "current_lsn", receiveLSN = "receive_lsn", replayLSN = "replay_lsn"
        case replayLagSeconds = "replay_lag_seconds", fencedUnderEpoch = "fenced_under_epoch"
        case configFiles = "config_files", deploymentHash = "deployment_hash"
    }
}

/// A signed request's JSON body: an object with exactly the documented fields (unknown ones are
/// refused, not ignored).
/// `POST /v1/actions/probe`: the monitor asks this agent to check other nodes' health endpoints
/// from where it stands (a second vantage point for `failover.trigger: region`).
public struct ProbeOrder: Codable, Sendable, Equatable {
    public struct Target: Codable, Sendable, Equatable {
        public var node: String
        /// `http://`, `https://` or `tcp://host:port`.
        public var url: String
        /// For http(s): the answer's body must contain this.
        public var body: String?

        public init(node: String, url: String, body: String? = nil) {
            self.node = node
            self.url = url
            self.body = body
        }
    }
    public var targets: [Target]
    public var timeoutMilliseconds: Int

    public init(targets: [Target], timeoutMilliseconds: Int) {
        self.targets = targets
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case targets
        case timeoutMilliseconds = "timeout_ms"
    }
}

public struct ProbeAnswer: Codable, Sendable, Equatable {
    public struct Outcome: Codable, Sendable, Equatable {
        public var node: String
        public var ok: Bool
        public var detail: String

        public init(node: String, ok: Bool, detail: String) {
            self.node = node
            self.ok = ok
            self.detail = detail
        }
    }
    /// The agent's own node and region, so the monitor knows where the answer was seen from.
    public var node: String
    public var results: [Outcome]

    public init(node: String, results: [Outcome]) {
        self.node = node
        self.results = results
    }
}

public protocol AgentBody: Decodable {
    static var fields: [String] { get }
}

public struct AgentBodyError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension AgentBody {
    /// Decodes `data`, refusing a non-object, an unknown field, or a field of the wrong type.
    public static func decodeStrictly(_ data: Data) throws -> Self {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw AgentBodyError(description: "the body is not valid JSON")
        }
        guard let keys = (object as? [String: Any])?.keys else {
            throw AgentBodyError(description: "the body must be a JSON object with the fields \(fields.joined(separator: ", "))")
        }
        if let unknown = keys.sorted().first(where: { !fields.contains($0) }) {
            throw AgentBodyError(description: "unknown field '\(LogSafe.escape(unknown, maxLength: 64))'; this request takes \(fields.joined(separator: ", "))")
        }
        do { return try JSONDecoder().decode(Self.self, from: data) } catch {
            throw AgentBodyError(description: "the body does not match this request's fields (\(fields.joined(separator: ", "))): \(error)")
        }
    }
}

extension FenceOrder: AgentBody { public static var fields: [String] { ["epoch"] } }
extension ProbeOrder: AgentBody { public static var fields: [String] { ["targets", "timeout_ms"] } }
extension SyncOrder: AgentBody { public static var fields: [String] { ["epoch", "primary_region"] } }
extension FailsafeRequest: AgentBody { public static var fields: [String] { ["primary", "epoch", "ttl_ms"] } }
extension SealOrder: AgentBody { public static var fields: [String] { ["epoch"] } }
