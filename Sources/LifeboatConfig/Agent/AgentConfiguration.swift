import LifeboatCore

/// `lifeboat agent`'s configuration: one file per node (`/etc/lifeboat/agent.yml`).
public struct AgentConfiguration: Sendable {
    /// This node's name, as the monitor's config names it.
    public var node: String
    public var region: String
    public var listen: HostPort
    /// The HMAC-SHA256 key the monitor signs actions with (shared with the monitor's `agents.key_*`).
    public var key: SecretSource
    /// How long a `/healthz` result is served from cache.
    public var cacheFor: Duration
    /// The local PostgreSQL: `/primary`, `/replica`, `fence`, `status` and the `postgresql` check.
    public var database: DatabaseNodeConfig?
    public var fence: FenceMethod
    public var checks: [AgentCheck]
    public var deployment: DeploymentFiles
    public var files: FilesConfig?
    /// Where the agent keeps the highest epoch it has been ordered under, so a fence carrying an
    /// older epoch is refused also after a restart. Nil: in memory only (tests).
    public var stateFile: String?
    /// The primary's lease: renewed with the monitor while the local PostgreSQL takes writes, and
    /// the local PostgreSQL fenced when it cannot be renewed in time. Nil: no lease.
    public var lease: LeaseConfig?
    /// HTTPS for this agent's API and for its calls to https:// monitors and peer agents.
    public var tls: TLSSettings?
    /// How this agent stops, rewinds, clones and starts its PostgreSQL (`lifeboat rejoin`,
    /// `lifeboat replica init`). Nil: those are refused with the reason.
    public var postgresql: PostgresControl?
    public var warnings: [Diagnostic] = []

    public static let defaultStateFile = "/var/lib/lifeboat/agent-state.json"

    public init(node: String, region: String, listen: HostPort = HostPort(host: "127.0.0.1", port: 8548), key: SecretSource,
                cacheFor: Duration = .seconds(1), database: DatabaseNodeConfig? = nil, fence: FenceMethod = .readOnly,
                checks: [AgentCheck] = [], deployment: DeploymentFiles = DeploymentFiles(), files: FilesConfig? = nil,
                stateFile: String? = nil, lease: LeaseConfig? = nil) {
        self.stateFile = stateFile
        self.lease = lease
        self.node = node
        self.region = region
        self.listen = listen
        self.key = key
        self.cacheFor = cacheFor
        self.database = database
        self.fence = fence
        self.checks = checks
        self.deployment = deployment
        self.files = files
    }
}

/// `postgresql:` in agent.yml: where this node's PostgreSQL lives and how to reach the primary for
/// replication.
public struct PostgresControl: Sendable, Equatable {
    /// Where pg_ctl, pg_rewind, pg_basebackup, pg_waldump, pg_controldata and postgres are.
    public var binDirectory: String
    public var dataDirectory: String
    /// Where postgresql.conf lives when not in the data directory (Debian: /etc/postgresql/15/main).
    public var configDirectory: String?
    /// The OS user PostgreSQL runs as; the agent (root) runs the tools as this user.
    public var runAs: String?
    /// pg_ctl's `-l` (nil: the server's own logging settings only).
    public var logFile: String?
    /// The role the WAL receiver, pg_rewind and pg_basebackup connect to the primary as.
    public var replicationUser: String
    /// A libpq password file (`~/.pgpass` format) with that role's password: given to the tools as
    /// PGPASSFILE and written into primary_conninfo as `passfile`. The password itself is never
    /// written anywhere by Lifeboat.
    public var passfile: String?
    public var sslmode: DatabaseNodeConfig.TLSMode
    /// Extra arguments before every command (the sandbox runs a region's server inside its network
    /// namespace). Not in the YAML.
    public var commandPrefix: [String]

    public init(binDirectory: String = "/usr/lib/postgresql/15/bin", dataDirectory: String, configDirectory: String? = nil,
                runAs: String? = nil, logFile: String? = nil, replicationUser: String = "replicator", passfile: String? = nil,
                sslmode: DatabaseNodeConfig.TLSMode = .prefer, commandPrefix: [String] = []) {
        self.binDirectory = binDirectory
        self.dataDirectory = dataDirectory
        self.configDirectory = configDirectory
        self.runAs = runAs
        self.logFile = logFile
        self.replicationUser = replicationUser
        self.passfile = passfile
        self.sslmode = sslmode
        self.commandPrefix = commandPrefix
    }

    /// Where postgresql.conf, pg_hba.conf and pg_ident.conf are.
    public var configFilesDirectory: String { configDirectory ?? dataDirectory }
}

/// How `fence` makes the local PostgreSQL stop taking writes.
public enum FenceMethod: Sendable, Equatable {
    /// `default_transaction_read_only = on`, reloaded, client sessions terminated (the server stays up).
    case readOnly
    /// `pg_ctl stop -m fast` on the data directory, as `runAs` when given (the agent runs as root).
    case stop(pgCtl: String, dataDirectory: String, runAs: String?)

    public var name: String {
        switch self {
        case .readOnly: "read-only"
        case .stop: "stop"
        }
    }
}

/// One `/healthz` check.
public struct AgentCheck: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The `database:` section: connect and `SELECT 1` (plus the role).
        case postgresql
        /// MySQL/MariaDB: connect and ping (libmariadb).
        case mysql(MySQLTarget)
        case tcp(host: String, port: Int)
        /// `GET`; healthy on 2xx and, when set, a body containing `expectBody`.
        case http(url: String, expectBody: String?)
        /// Free space on the filesystem holding `path`.
        case disk(path: String, minFreeBytes: UInt64?, minFreePercent: Double?)
        /// Exit status 0 is healthy.
        case command([String])
    }

    public var name: String
    public var timeout: Duration
    public var kind: Kind

    public init(name: String, timeout: Duration = .seconds(1), kind: Kind) {
        self.name = name
        self.timeout = timeout
        self.kind = kind
    }

    public var type: String {
        switch kind {
        case .postgresql: "postgresql"
        case .mysql: "mysql"
        case .tcp: "tcp"
        case .http: "http"
        case .disk: "disk"
        case .command: "command"
        }
    }
}

public struct MySQLTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: SecretSource?
    public var database: String?

    public init(host: String, port: Int = 3306, user: String, password: SecretSource? = nil, database: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }
}

/// What `status` hashes so the monitor can flag regions whose deployments drifted apart.
public struct DeploymentFiles: Sendable, Equatable {
    public var binary: String?
    public var configFiles: [String]

    public init(binary: String? = nil, configFiles: [String] = []) {
        self.binary = binary
        self.configFiles = configFiles
    }
}

/// `files:`: directories standby regions pull from the primary region with rsync.
public struct FilesConfig: Sendable, Equatable {
    public struct SyncedPath: Sendable, Equatable {
        /// Names the path in metrics and, in rsync daemon mode, the module on the source.
        public var name: String
        /// The local directory (the destination here, the source when this region is primary).
        public var path: String

        public init(name: String, path: String) {
            self.name = name
            self.path = path
        }
    }

    /// Where a region's files are pulled from.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        /// `rsync://host[:port]`: an rsync daemon exporting one module per path name.
        case daemon(host: String, port: Int?)
        /// `ssh://[user@]host[:port]`: rsync over SSH, the same absolute path on the remote.
        case ssh(user: String?, host: String, port: Int?)
        /// An absolute local directory holding one subdirectory per path name (one machine, tests).
        case local(String)

        public var description: String {
            switch self {
            case .daemon(let host, let port): "rsync://\(host)\(port.map { ":\($0)" } ?? "")"
            case .ssh(let user, let host, let port): "ssh://\(user.map { "\($0)@" } ?? "")\(host)\(port.map { ":\($0)" } ?? "")"
            case .local(let dir): dir
            }
        }
    }

    public struct Peer: Sendable, Equatable {
        public var region: String
        public var source: Source

        public init(region: String, source: Source) {
            self.region = region
            self.source = source
        }
    }

    public var paths: [SyncedPath]
    public var interval: Duration
    public var timeout: Duration
    public var excludes: [String]
    /// rsync `--bwlimit`, in KiB/s.
    public var bandwidthLimitKiB: Int?
    /// Delete files here that the primary no longer has (never applied when this region is primary).
    public var delete: Bool
    public var peers: [Peer]
    /// The primary region before any monitor has said otherwise (epoch 0).
    public var primaryRegion: String
    /// Where the agent keeps the epoch and primary region it was last told.
    public var stateFile: String
    /// Extra `ssh` options for `ssh://` sources (`-i key`, `-o StrictHostKeyChecking=yes`).
    public var sshCommand: String?

    public init(paths: [SyncedPath], interval: Duration = .seconds(30), timeout: Duration = .seconds(600), excludes: [String] = [],
                bandwidthLimitKiB: Int? = nil, delete: Bool = false, peers: [Peer], primaryRegion: String,
                stateFile: String, sshCommand: String? = nil) {
        self.paths = paths
        self.interval = interval
        self.timeout = timeout
        self.excludes = excludes
        self.bandwidthLimitKiB = bandwidthLimitKiB
        self.delete = delete
        self.peers = peers
        self.primaryRegion = primaryRegion
        self.stateFile = stateFile
        self.sshCommand = sshCommand
    }

    public func source(of region: String) -> Source? { peers.first { $0.region == region }?.source }
}

/// The `lease:` section of agent.yml.
public struct LeaseConfig: Sendable, Equatable {
    /// The monitors' API base URLs (`api.listen` of lifeboat.yml), e.g. `http://10.0.0.5:8547`;
    /// with several monitors over etcd, every one of them (the leading one answers).
    public var monitors: [String]
    /// How often the lease is renewed (well under the monitor's `failover.lease_ttl`).
    public var renewEvery: Duration

    public init(monitor: String, renewEvery: Duration = .seconds(1)) {
        self.init(monitors: [monitor], renewEvery: renewEvery)
    }

    public init(monitors: [String], renewEvery: Duration = .seconds(1)) {
        self.monitors = monitors
        self.renewEvery = renewEvery
    }
}
