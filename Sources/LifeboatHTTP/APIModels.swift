import Hummingbird
import LifeboatCore

/// `GET /v1/status` (docs/api.yaml, schema Status). Snake-case keys on the wire.
public struct StatusView: Codable, Sendable, Equatable {

    public init(cluster: String, state: String, primary: String?, epoch: UInt64, paused: Bool, lastDecision: String, nodes: [Node],
                services: [ServiceNode] = [], agents: [AgentNode] = []) {
        self.services = services
        self.agents = agents
        self.cluster = cluster
        self.state = state
        self.primary = primary
        self.epoch = epoch
        self.paused = paused
        self.lastDecision = lastDecision
        self.nodes = nodes
    }
    public struct Node: Codable, Sendable, Equatable {

        public init(name: String, region: String, role: String, health: String, reachable: Bool, lsn: String?, lagBytes: UInt64?, lagSeconds: Double?, walReceiver: String?, lastError: String?,
                    observedAgoSeconds: Double? = nil, timeline: UInt32? = nil, forked: Bool = false) {
            self.observedAgoSeconds = observedAgoSeconds
            self.timeline = timeline
            self.forked = forked
            self.name = name
            self.region = region
            self.role = role
            self.health = health
            self.reachable = reachable
            self.lsn = lsn
            self.lagBytes = lagBytes
            self.lagSeconds = lagSeconds
            self.walReceiver = walReceiver
            self.lastError = lastError
        }
        public var name: String
        public var region: String
        public var role: String
        public var health: String
        public var reachable: Bool
        public var lsn: String?
        public var lagBytes: UInt64?
        public var lagSeconds: Double?
        public var walReceiver: String?
        public var lastError: String?
        /// Seconds since the monitor last probed the node (absent: not yet).
        public var observedAgoSeconds: Double?
        /// The timeline the node's data is on (absent: unknown).
        public var timeline: UInt32?
        /// A standby on another timeline than the primary's: never promoted.
        public var forked: Bool

        enum CodingKeys: String, CodingKey {
            case name, region, role, health, reachable, lsn, timeline, forked
            case lagBytes = "lag_bytes", lagSeconds = "lag_seconds", walReceiver = "wal_receiver", lastError = "last_error"
            case observedAgoSeconds = "observed_ago_seconds"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            region = try c.decode(String.self, forKey: .region)
            role = try c.decode(String.self, forKey: .role)
            health = try c.decode(String.self, forKey: .health)
            reachable = try c.decode(Bool.self, forKey: .reachable)
            lsn = try c.decodeIfPresent(String.self, forKey: .lsn)
            lagBytes = try c.decodeIfPresent(UInt64.self, forKey: .lagBytes)
            lagSeconds = try c.decodeIfPresent(Double.self, forKey: .lagSeconds)
            walReceiver = try c.decodeIfPresent(String.self, forKey: .walReceiver)
            lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
            observedAgoSeconds = try c.decodeIfPresent(Double.self, forKey: .observedAgoSeconds)
            timeline = try c.decodeIfPresent(UInt32.self, forKey: .timeline)
            forked = try c.decodeIfPresent(Bool.self, forKey: .forked) ?? false
        }
    }

    public var cluster: String
    public var state: String
    public var primary: String?
    public var epoch: UInt64
    public var paused: Bool
    public var lastDecision: String
    public var nodes: [Node]
    public var services: [ServiceNode]
    /// Node agents the monitor polls (empty without an agents: section).
    public var agents: [AgentNode]
    /// With several monitors over etcd: whether this one leads, and which one does (absent with one monitor).
    public var monitors: Monitors?
    /// The primary's lease as this monitor granted it (absent: no failover.lease_ttl, or not granted yet).
    public var lease: Lease?
    /// Each region's application tier as the monitor judges it (empty without services).
    public var regions: [RegionTier] = []

    /// A region's application tier: `serving`, `down` (confirmed from another region) or
    /// `uncorroborated` (only the monitor sees it down).
    public struct RegionTier: Codable, Sendable, Equatable {
        public var region: String
        public var verdict: String
        public var healthy: Int
        public var total: Int
        public var detail: String

        public init(region: String, verdict: String, healthy: Int, total: Int, detail: String) {
            self.region = region
            self.verdict = verdict
            self.healthy = healthy
            self.total = total
            self.detail = detail
        }
    }

    /// The primary's lease, as the monitor counts it.
    public struct Lease: Codable, Sendable, Equatable {
        public var holder: String
        public var epoch: UInt64
        /// Seconds until it runs out unless renewed (0 once it has).
        public var remainingSeconds: Double
        /// The holder gave it up (its PostgreSQL is down).
        public var released: Bool

        public init(holder: String, epoch: UInt64, remainingSeconds: Double, released: Bool) {
            self.holder = holder
            self.epoch = epoch
            self.remainingSeconds = remainingSeconds
            self.released = released
        }

        enum CodingKeys: String, CodingKey {
            case holder, epoch, released
            case remainingSeconds = "remaining_seconds"
        }
    }

    /// Several monitors: only the leading one probes, decides and acts; the others wait their turn.
    public struct Monitors: Codable, Sendable, Equatable {
        /// This monitor's id.
        public var me: String
        /// The leading monitor's id and API address as etcd names them (absent: none leads, or etcd is unreachable).
        public var leader: String?
        public var leaderAPI: String?
        public var leading: Bool

        public init(me: String, leader: String?, leaderAPI: String?, leading: Bool) {
            self.me = me
            self.leader = leader
            self.leaderAPI = leaderAPI
            self.leading = leading
        }

        enum CodingKeys: String, CodingKey {
            case me, leader, leading
            case leaderAPI = "leader_api"
        }
    }

    /// What the monitor last learned from a node's agent.
    public struct AgentNode: Codable, Sendable, Equatable {
        public struct FilePath: Codable, Sendable, Equatable {
            public var name: String
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

            enum CodingKeys: String, CodingKey {
                case name, errors
                case ageSeconds = "age_seconds", lastBytes = "last_bytes", lastError = "last_error"
            }
        }

        public var node: String
        public var region: String
        public var reachable: Bool
        public var role: String?
        public var deploymentHash: String?
        public var drift: Bool
        public var filesEpoch: UInt64?
        public var filesPrimaryRegion: String?
        public var filesRefusal: String?
        public var files: [FilePath]
        public var error: String?
        /// Seconds since the monitor last asked the agent (absent: not yet).
        public var checkedAgoSeconds: Double?

        public init(node: String, region: String, reachable: Bool, role: String?, deploymentHash: String?, drift: Bool, filesEpoch: UInt64?,
                    filesPrimaryRegion: String?, filesRefusal: String?, files: [FilePath], error: String?, checkedAgoSeconds: Double? = nil) {
            self.checkedAgoSeconds = checkedAgoSeconds
            self.node = node
            self.region = region
            self.reachable = reachable
            self.role = role
            self.deploymentHash = deploymentHash
            self.drift = drift
            self.filesEpoch = filesEpoch
            self.filesPrimaryRegion = filesPrimaryRegion
            self.filesRefusal = filesRefusal
            self.files = files
            self.error = error
        }

        enum CodingKeys: String, CodingKey {
            case node, region, reachable, role, drift, files, error
            case deploymentHash = "deployment_hash", filesEpoch = "files_epoch", filesPrimaryRegion = "files_primary_region"
            case filesRefusal = "files_refusal", checkedAgoSeconds = "checked_ago_seconds"
        }
    }

    /// An application node and its latest health check.
    public struct ServiceNode: Codable, Sendable, Equatable {
        public var service: String
        public var node: String
        public var region: String
        public var healthy: Bool?
        public var error: String?

        public init(service: String, node: String, region: String, healthy: Bool?, error: String?) {
            self.service = service
            self.node = node
            self.region = region
            self.healthy = healthy
            self.error = error
        }
    }

    enum CodingKeys: String, CodingKey {
        case cluster, state, primary, epoch, paused, nodes, services, agents, monitors, lease, regions
        case lastDecision = "last_decision"
    }

    /// `agents` may be absent (a monitor from before agents existed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cluster = try c.decode(String.self, forKey: .cluster)
        state = try c.decode(String.self, forKey: .state)
        primary = try c.decodeIfPresent(String.self, forKey: .primary)
        epoch = try c.decode(UInt64.self, forKey: .epoch)
        paused = try c.decode(Bool.self, forKey: .paused)
        lastDecision = try c.decode(String.self, forKey: .lastDecision)
        nodes = try c.decode([Node].self, forKey: .nodes)
        services = try c.decodeIfPresent([ServiceNode].self, forKey: .services) ?? []
        agents = try c.decodeIfPresent([AgentNode].self, forKey: .agents) ?? []
        monitors = try c.decodeIfPresent(Monitors.self, forKey: .monitors)
        lease = try c.decodeIfPresent(Lease.self, forKey: .lease)
        regions = try c.decodeIfPresent([RegionTier].self, forKey: .regions) ?? []
    }
}

/// One journal line (`GET /v1/events`).
public struct EventView: Codable, Sendable, Equatable {

    public init(seq: Int64, at: String, epoch: UInt64, kind: String, step: String?, node: String?, message: String) {
        self.seq = seq
        self.at = at
        self.epoch = epoch
        self.kind = kind
        self.step = step
        self.node = node
        self.message = message
    }
    public var seq: Int64
    public var at: String
    public var epoch: UInt64
    public var kind: String
    public var step: String?
    public var node: String?
    public var message: String
}

public struct EventsView: Codable, Sendable, Equatable {

    public init(events: [EventView]) {
        self.events = events
    }
    public var events: [EventView]
}

/// A request body the API decodes strictly: these keys and no others.
public protocol StrictlyDecodable: Decodable {
    static var keys: [String] { get }
}

/// `POST /v1/failover` and `/v1/switchover` body.
public struct FailoverRequest: Codable, Sendable, StrictlyDecodable {
    public var to: String?
    public var dryRun: Bool?
    public var by: String?
    /// The node's name again: required for a failover while no primary is identified (every node a
    /// standby), when nothing tells which node holds the newest data.
    public var confirm: String?

    public static let keys = ["to", "dry_run", "by", "confirm"]

    public init(to: String? = nil, dryRun: Bool? = nil, by: String? = nil, confirm: String? = nil) {
        self.to = to
        self.dryRun = dryRun
        self.by = by
        self.confirm = confirm
    }

    enum CodingKeys: String, CodingKey {
        case to, by, confirm
        case dryRun = "dry_run"
    }
}

/// `POST /v1/rejoin` body.
public struct RejoinRequest: Codable, Sendable, StrictlyDecodable {
    public var node: String
    /// never (default): pg_rewind only; fallback: a base backup where pg_rewind cannot be used;
    /// always: a fresh base backup (`lifeboat replica init`).
    public var reinit: ReinitChoice?
    /// The primary the node must follow (`replica init --from`): refused unless it is the current primary.
    public var from: String?
    public var by: String?

    public static let keys = ["node", "reinit", "from", "by"]

    public init(node: String, reinit: ReinitChoice? = nil, from: String? = nil, by: String? = nil) {
        self.node = node
        self.reinit = reinit
        self.from = from
        self.by = by
    }
}

/// What `POST /v1/rejoin` came to.
public enum RejoinAnswer: Sendable, Equatable {
    case done(RejoinReport)
    /// Refused before anything ran (why, in words).
    case refused(String)
    /// A step failed on the node's agent.
    case failed(RejoinFailure)
    case notLeader(leader: String?, api: String?)
}

extension RejoinReport: ResponseEncodable {}
extension RejoinFailure: ResponseEncodable {}

/// `POST /v1/pause` and `/v1/resume` body (optional).
public struct OperatorRequest: Codable, Sendable, StrictlyDecodable {
    public var by: String?

    public static let keys = ["by"]

    public init(by: String? = nil) { self.by = by }
}

/// What a failover did or would do.
public struct PlanView: Codable, Sendable, Equatable {

    public init(accepted: Bool, dryRun: Bool, from: String?, to: String?, epoch: UInt64? = nil, refusal: String?, steps: [String], lossBytes: UInt64?) {
        self.epoch = epoch
        self.accepted = accepted
        self.dryRun = dryRun
        self.from = from
        self.to = to
        self.refusal = refusal
        self.steps = steps
        self.lossBytes = lossBytes
    }
    public var accepted: Bool
    public var dryRun: Bool
    public var from: String?
    public var to: String?
    /// The epoch the failover runs (or would run) under.
    public var epoch: UInt64?
    public var refusal: String?
    public var steps: [String]
    public var lossBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case accepted, from, to, epoch, refusal, steps
        case dryRun = "dry_run", lossBytes = "loss_bytes"
    }
}

public struct MessageView: Codable, Sendable, Equatable {

    public init(message: String) {
        self.message = message
    }
    public var message: String
}

/// What an operator's command came to, as the monitor answers it.
public enum CommandAnswer: Sendable, Equatable {
    case outcome(CommandOutcome)
    /// The monitor could not save the decision, so nothing was done.
    case notSaved(String)
    /// The monitor is not running (shutting down).
    case notRunning
    /// Several monitors: this one does not lead; the command goes to the leader (its id and API, when known).
    case notLeader(leader: String?, api: String?)
}

/// What the API needs from a running monitor.
public protocol MonitorControl: Sendable {
    func status() async -> StatusView
    func events(after: Int64, limit: Int) async throws -> [EventView]
    /// The newest `limit` events, oldest first.
    func newestEvents(limit: Int) async throws -> [EventView]
    /// Carries out an operator's command (decided by the core, saved, then acted on).
    func command(_ event: FailoverEvent) async -> CommandAnswer
    /// What the command would come to now, decided by the core on a copy of its state.
    func preview(_ event: FailoverEvent) async -> CommandOutcome
    /// Makes `node` a streaming standby of the current primary through its agent.
    func rejoin(_ request: RejoinRequest, by: String) async -> RejoinAnswer
}

extension MonitorControl {
    public func rejoin(_ request: RejoinRequest, by: String) async -> RejoinAnswer {
        .refused("this monitor cannot rejoin nodes")
    }
}
