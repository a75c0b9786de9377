import LifeboatCore

/// One replicated path as a node's agent reports it.
public struct AgentPathReport: Sendable, Equatable {
    public var name: String
    /// Seconds since the last successful pull (nil: never).
    public var ageSeconds: Double?
    public var lastBytes: UInt64
    public var errors: UInt64
    public var lastError: String?

    public init(name: String, ageSeconds: Double?, lastBytes: UInt64, errors: UInt64, lastError: String?) {
        self.name = name
        self.ageSeconds = ageSeconds
        self.lastBytes = lastBytes
        self.errors = errors
        self.lastError = lastError
    }
}

/// The file replication an agent runs: the order it follows and each path's state.
public struct AgentFilesReport: Sendable, Equatable {
    public var order: ReplicationOrder
    /// This node's region is the one files are pulled from.
    public var source: Bool
    public var refusal: String?
    public var paths: [AgentPathReport]

    public init(order: ReplicationOrder, source: Bool, refusal: String?, paths: [AgentPathReport]) {
        self.order = order
        self.source = source
        self.refusal = refusal
        self.paths = paths
    }
}

/// What a node's agent says about its node.
public struct AgentReport: Sendable, Equatable {
    /// The local database's role as the agent sees it (`primary`, `replica`, `fenced`, `unknown`).
    public var role: String
    public var deploymentHash: String
    /// The names of the deployment files the hash covers: nodes watching the same names are compared.
    public var deploymentFiles: [String]
    public var files: AgentFilesReport?

    public init(role: String, deploymentHash: String, deploymentFiles: [String], files: AgentFilesReport?) {
        self.role = role
        self.deploymentHash = deploymentHash
        self.deploymentFiles = deploymentFiles
        self.files = files
    }
}

/// Why an agent call failed.
public struct AgentCallError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The agent could not be reached (or did not answer in time).
        case unreachable
        /// The agent refused the order (a stale or conflicting epoch, no files: section).
        case refused
        /// The agent refused the signature (401).
        case unauthorized
        /// Anything else (a server error, an unreadable answer).
        case failed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The monitor's handle on one node's agent.
public protocol NodeAgent: Sendable {
    var node: String { get }
    var region: String { get }
    var endpoint: String { get }
    func status(timeout: Duration) async throws -> AgentReport
    /// Orders file replication to follow `order` and pull now.
    func syncNow(_ order: ReplicationOrder, timeout: Duration) async throws -> AgentFilesReport
    /// The failsafe promise this node's agent holds: `holder`'s agent (the primary's) asked it not
    /// to let this node be promoted for `remaining` more. Nil: none held.
    func failsafePromise(timeout: Duration) async throws -> FailsafePromiseReport?
}

/// A failsafe promise as a standby's agent reports it.
public struct FailsafePromiseReport: Sendable, Equatable {
    public var holder: String
    public var epoch: Epoch
    public var remaining: Duration

    public init(holder: String, epoch: Epoch, remaining: Duration) {
        self.holder = holder
        self.epoch = epoch
        self.remaining = remaining
    }
}
