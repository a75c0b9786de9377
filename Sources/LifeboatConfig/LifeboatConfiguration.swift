import LifeboatCore

/// How to reach one PostgreSQL node.
public struct DatabaseNodeConfig: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var name: String
    public var region: String
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var password: SecretSource?
    public var tls: TLSMode
    /// The node agent's base URL (`http://10.0.1.5:8548`): fencing goes through it when it answers.
    public var agent: String?
    /// The Linode instance this node runs on, for hard fencing (`fencing: {power_off: linode}`).
    public var linodeID: Int?

    public init(name: String, region: String, host: String, port: Int = 5432, user: String = "postgres",
                database: String = "postgres", password: SecretSource? = nil, tls: TLSMode = .disable, agent: String? = nil) {
        self.agent = agent
        self.name = name
        self.region = region
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.password = password
        self.tls = tls
    }
}

/// An application node and the health endpoint that says it can serve.
public struct ServiceNodeConfig: Sendable, Equatable {
    public var name: String
    public var region: String
    public var health: String
    /// For http(s) checks: the body must contain this.
    public var healthBody: String?
    /// The node agent's base URL, polled for deployment drift and file replication.
    public var agent: String?
    /// The address the DNS record holds for this node (one of its region's `dns.targets`): with
    /// `failover.trigger: region` it leaves the record while the node is down.
    public var address: IPv4?

    public init(name: String, region: String, health: String, healthBody: String? = nil, agent: String? = nil, address: IPv4? = nil) {
        self.address = address
        self.name = name
        self.region = region
        self.health = health
        self.healthBody = healthBody
        self.agent = agent
    }
}

/// `fencing:`: power the old primary's machine off when it cannot be fenced otherwise.
public struct FencingConfig: Sendable, Equatable {
    /// Linode's API (the only power-off provider in this version).
    public var linode: DNSConfig.LinodeSettings
    /// How long to wait for the machine to be off (within the fence step's time).
    public var wait: Duration

    public init(linode: DNSConfig.LinodeSettings, wait: Duration = .seconds(30)) {
        self.linode = linode
        self.wait = wait
    }
}

/// `etcd:`: several monitors over etcd. Each monitor has its own config file naming the same etcd
/// cluster; the one that leads probes, decides and acts, the others wait their turn.
public struct EtcdConfig: Sendable, Equatable {
    /// etcd client URLs (each member's, so any one answering is enough).
    public var endpoints: [String]
    /// The leader's session: a leader cut off from etcd steps down within it, and another monitor
    /// takes over after it (whole seconds, 2–60).
    public var sessionTTLSeconds: Int
    /// This monitor's API as the others and the CLI reach it (default: from `api.listen`).
    public var advertise: String?

    public init(endpoints: [String], sessionTTLSeconds: Int = 3, advertise: String? = nil) {
        self.endpoints = endpoints
        self.sessionTTLSeconds = sessionTTLSeconds
        self.advertise = advertise
    }
}

/// `agents:`: how the monitor talks to node agents.
public struct AgentsConfig: Sendable, Equatable {
    /// The HMAC-SHA256 key every agent shares with the monitor.
    public var key: SecretSource
    public var timeout: Duration
    /// How often each agent's status is polled.
    public var interval: Duration

    public init(key: SecretSource, timeout: Duration = .seconds(2), interval: Duration = .seconds(15)) {
        self.key = key
        self.timeout = timeout
        self.interval = interval
    }
}

public struct ServiceConfig: Sendable, Equatable {
    public var name: String
    public var nodes: [ServiceNodeConfig]

    public init(name: String, nodes: [ServiceNodeConfig]) {
        self.name = name
        self.nodes = nodes
    }
}

/// A validated config file.
public struct LifeboatConfiguration: Sendable {
    public var cluster: String
    public var topology: Topology
    public var databaseNodes: [DatabaseNodeConfig]
    public var services: [ServiceConfig]
    public var detection: DetectionSettings
    public var failover: FailoverPolicy
    /// Traffic switching; nil when clients find the primary themselves.
    public var dns: DNSConfig?
    /// The monitor's HTTP API.
    public var api: APIConfig
    /// Who is told about failovers.
    public var notify: NotifyConfig
    /// Node agents (fencing through them, drift, file replication); nil when none are used.
    public var agents: AgentsConfig?
    /// Hard fencing (power-off through the provider's API); nil when not configured.
    public var fencing: FencingConfig?
    /// A Linode NodeBalancer switched with the DNS record (or instead of it); nil when not configured.
    public var nodeBalancer: NodeBalancerConfig?
    /// Several monitors over etcd; nil: one monitor with its SQLite state file.
    public var etcd: EtcdConfig?
    /// HTTPS for the API and for calls to https:// agents; nil: plain HTTP.
    public var tls: TLSSettings?
    /// Non-fatal findings (inline passwords, sections not acted on yet).
    public var warnings: [Diagnostic]

    public init(cluster: String, topology: Topology, databaseNodes: [DatabaseNodeConfig], services: [ServiceConfig] = [],
                detection: DetectionSettings = .default, failover: FailoverPolicy = .default, dns: DNSConfig? = nil,
                api: APIConfig = APIConfig(), notify: NotifyConfig = NotifyConfig(), agents: AgentsConfig? = nil,
                fencing: FencingConfig? = nil, etcd: EtcdConfig? = nil, tls: TLSSettings? = nil, warnings: [Diagnostic] = []) {
        self.tls = tls
        self.etcd = etcd
        self.fencing = fencing
        self.agents = agents
        self.api = api
        self.notify = notify
        self.cluster = cluster
        self.topology = topology
        self.databaseNodes = databaseNodes
        self.services = services
        self.detection = detection
        self.failover = failover
        self.dns = dns
        self.warnings = warnings
    }

    public func databaseNode(named name: String) -> DatabaseNodeConfig? {
        databaseNodes.first { $0.name == name }
    }

    /// One line for `lifeboat validate`.
    public var summary: String {
        let serviceNodes = services.reduce(0) { $0 + $1.nodes.count }
        return "cluster \(cluster): \(topology.regions.count) regions (\(topology.regions.sorted { $0.priority < $1.priority }.map(\.name).joined(separator: ", "))), "
            + "\(databaseNodes.count) database nodes, \(services.count) services with \(serviceNodes) nodes; "
            + "detection every \(DurationText.format(detection.interval)), down after \(detection.failureThreshold) failed probes; "
            + "automatic failover \(failover.automatic ? "on" : "off")"
            + (dns.map { "; traffic: \($0.record) via \($0.provider.name), TTL \($0.ttl)s" } ?? (nodeBalancer == nil ? "; no traffic switch" : ""))
            + (nodeBalancer.map { "; NodeBalancer \($0.id) config \($0.configID) (standby nodes: \($0.standbyMode.rawValue))" } ?? "")
            + agentSummary
            + (etcd.map { "; several monitors over etcd (\($0.endpoints.count) endpoints, session \($0.sessionTTLSeconds)s)" } ?? "")
    }

    private var agentSummary: String {
        let count = databaseNodes.filter { $0.agent != nil }.count + services.flatMap(\.nodes).filter { $0.agent != nil }.count
        return count == 0 ? "" : "; \(count) node agents"
    }
}

/// The `api:` section: where the monitor's HTTP API listens and the token mutating calls need.
public struct APIConfig: Sendable, Equatable {
    public var listen = HostPort(host: "127.0.0.1", port: 8547)
    /// Without a token, mutating calls are refused (401) and reading works.
    public var token: SecretSource?

    public init(listen: HostPort = HostPort(host: "127.0.0.1", port: 8547), token: SecretSource? = nil) {
        self.listen = listen
        self.token = token
    }
}

/// The `notify:` section. Webhook URLs and keys are secrets: given by env or file.
public struct NotifyConfig: Sendable, Equatable {
    public var slackWebhook: SecretSource?
    public var pagerDutyKey: SecretSource?
    public var pagerDutyURL = "https://events.pagerduty.com/v2/enqueue"
    public var webhookURL: String?
    public var webhookSecret: SecretSource?

    public init() {}
}

/// `tls:` (in lifeboat.yml and in agent.yml): this process's certificate for its own API, the CA
/// that signs the others' certificates (checked on every https:// URL it calls), and whether
/// callers must present a certificate signed by that CA. The same certificate is presented as the
/// client certificate when this process calls another over https.
public struct TLSSettings: Sendable, Equatable {
    public enum ClientCertificates: String, Sendable, Equatable, CaseIterable {
        /// Callers need no certificate (requests are still signed or carry the API token).
        case none
        /// Callers must present a certificate signed by `caFile`.
        case require
    }

    /// PEM certificate (chain) of this process's API; nil: its API serves plain HTTP.
    public var certFile: String?
    public var keyFile: String?
    /// PEM CA certificate(s) trusted for https:// URLs (and for client certificates).
    public var caFile: String?
    public var clientCertificates: ClientCertificates

    public init(certFile: String? = nil, keyFile: String? = nil, caFile: String? = nil, clientCertificates: ClientCertificates = .none) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.clientCertificates = clientCertificates
    }
}

/// `nodebalancer:`: a Linode NodeBalancer whose backends follow the primary region (the new
/// region's node to `accept`, the others to `standby_mode`).
public struct NodeBalancerConfig: Sendable, Equatable {
    public enum StandbyMode: String, Sendable, Equatable, CaseIterable { case reject, drain }

    public var id: Int
    public var configID: Int
    /// Region -> the NodeBalancer node (backend) in it.
    public var nodes: [String: Int]
    public var standbyMode: StandbyMode
    public var linode: DNSConfig.LinodeSettings

    public init(id: Int, configID: Int, nodes: [String: Int], standbyMode: StandbyMode = .reject, linode: DNSConfig.LinodeSettings) {
        self.id = id
        self.configID = configID
        self.nodes = nodes
        self.standbyMode = standbyMode
        self.linode = linode
    }
}
