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

    public init(name: String, region: String, host: String, port: Int = 5432, user: String = "postgres",
                database: String = "postgres", password: SecretSource? = nil, tls: TLSMode = .disable) {
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
}

public struct ServiceConfig: Sendable, Equatable {
    public var name: String
    public var nodes: [ServiceNodeConfig]
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
    /// Non-fatal findings (inline passwords, sections not acted on yet).
    public var warnings: [Diagnostic]

    public init(cluster: String, topology: Topology, databaseNodes: [DatabaseNodeConfig], services: [ServiceConfig] = [],
                detection: DetectionSettings = .default, failover: FailoverPolicy = .default, dns: DNSConfig? = nil,
                api: APIConfig = APIConfig(), notify: NotifyConfig = NotifyConfig(), warnings: [Diagnostic] = []) {
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
            + (dns.map { "; traffic: \($0.record) via \($0.provider.name), TTL \($0.ttl)s" } ?? "; no traffic switch")
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
