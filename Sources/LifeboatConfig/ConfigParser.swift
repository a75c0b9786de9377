import Foundation
import LifeboatCore
import Yams

/// The config schema: YAML node tree -> `LifeboatConfiguration`, every problem reported at once.
public enum ConfigParser {
    static let topKeys = ["version", "cluster", "regions", "database", "services", "detection", "failover", "dns", "files", "agents", "api", "notify", "fencing", "etcd", "tls", "durability", "replication_slots", "nodebalancer"]
    static let apiKeys = ["listen", "token_env", "token_file", "token"]
    static let notifyKeys = ["slack", "pagerduty", "webhook"]
    static let regionKeys = ["name", "priority"]
    static let databaseKeys = ["user", "dbname", "password_env", "password_file", "password", "sslmode", "nodes"]
    static let databaseNodeKeys = ["name", "region", "host", "port", "user", "dbname", "password_env", "password_file", "password", "sslmode", "agent", "linode_id"]
    static let serviceKeys = ["name", "nodes"]
    static let serviceNodeKeys = ["name", "region", "health", "health_body", "agent", "address"]
    static let detectionKeys = ["interval", "timeout", "suspect_interval", "failure_threshold", "recovery_threshold"]
    static let failoverKeys = ["automatic", "max_lag_bytes", "max_lag_seconds", "cooldown", "step_attempts", "retry_delay", "lease_ttl", "failsafe", "rejoin", "trigger", "min_healthy"]

    /// Parses `yaml` (read from `file`, used in messages). Returns the configuration when there
    /// are no errors, and every diagnostic (errors and warnings) either way.
    public static func parse(yaml: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (LifeboatConfiguration?, [Diagnostic])
    {
        document(yaml: yaml, file: file, topKeys: topKeys) { parseRoot($0, reader: $1, environment: environment) }
    }

    /// The frame both config files share: compose the YAML (an empty file or a syntax error is a
    /// positioned diagnostic), build the configuration from its root, sort every diagnostic by
    /// position, and return the configuration only when there is no error, with its warnings.
    static func document<C: CarriesWarnings>(yaml: String, file: String, topKeys: [String], build: (Node, ConfigReader) -> C?)
        -> (C?, [Diagnostic])
    {
        let reader = ConfigReader(file: file)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                reader.report(.error, at: nil, "", "the file is empty; expected a mapping with keys \(topKeys.joined(separator: ", "))")
                return (nil, reader.diagnostics)
            }
            root = node
        } catch let error as YamlError {
            let (position, problem) = describe(error, in: yaml)
            reader.report(.error, line: position?.line ?? 1, column: position?.column ?? 1, "", "not valid YAML: \(problem)")
            return (nil, reader.diagnostics)
        } catch {
            reader.report(.error, at: nil, "", "not valid YAML: \(type(of: error))")
            return (nil, reader.diagnostics)
        }
        let config = build(root, reader)
        let diagnostics = reader.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
        var result = diagnostics.contains { $0.severity == .error } ? nil : config
        result?.warnings = diagnostics.filter { $0.severity == .warning }
        return (result, diagnostics)
    }

    private static func parseRoot(_ root: Node, reader: ConfigReader, environment: [String: String]) -> LifeboatConfiguration? {
        guard let top = reader.mapping(root, "", keys: topKeys) else { return nil }

        if let version = top["version"], let value = reader.int(version, "version"), value != 1 {
            reader.error(version, "version", "unsupported config version \(value); this Lifeboat reads version 1")
        }
        let cluster = top["cluster"].flatMap { reader.name($0, "cluster") } ?? "lifeboat"

        let regions = parseRegions(top, reader: reader)
        let db = top["database"].flatMap { parseDatabase($0, regions: regions, reader: reader, environment: environment) }
        if top["database"] == nil { _ = reader.required(top, "database", what: "the PostgreSQL nodes to watch") }
        let services = top["services"].map { parseServices($0, regions: regions, reader: reader) } ?? []
        let detection = top["detection"].map { parseDetection($0, reader: reader) } ?? .default
        var failover = top["failover"].map { parseFailover($0, reader: reader) } ?? .default
        if let n = top["durability"] { parseDurability(n, into: &failover.durability, reader: reader) }
        if let n = top["replication_slots"] { parseSlots(n, into: &failover.slots, reader: reader) }

        let dns = top["dns"].flatMap { node -> DNSConfig? in
            if reader.isNull(node) { return nil }
            return parseDNS(node, regions: regions, reader: reader, environment: environment)
        }
        var api = APIConfig()
        if let node = top["api"], let f = reader.mapping(node, "api", keys: apiKeys) {
            if let l = f["listen"], let text = reader.string(l, "api.listen") {
                if let hp = HostPort(parsing: text, defaultPort: 8547) { api.listen = hp } else {
                    reader.error(l, "api.listen", "expected an IPv4 address and port such as 127.0.0.1:8547, found '\(text)'")
                }
            }
            api.token = parseSecret(f, env: "token_env", file: "token_file", inline: "token", what: "API token", reader: reader, environment: environment)
        }
        var notify = NotifyConfig()
        if let node = top["notify"], let f = reader.mapping(node, "notify", keys: notifyKeys) {
            if let n = f["slack"], let sf = reader.mapping(n, "notify.slack", keys: ["webhook_url_env", "webhook_url_file", "webhook_url"]) {
                notify.slackWebhook = parseSecret(sf, env: "webhook_url_env", file: "webhook_url_file", inline: "webhook_url", what: "Slack webhook URL", reader: reader, environment: environment)
                if notify.slackWebhook == nil { reader.error(n, "notify.slack.webhook_url_env", "missing: give webhook_url_env or webhook_url_file") }
            }
            if let n = f["pagerduty"], let pf = reader.mapping(n, "notify.pagerduty", keys: ["routing_key_env", "routing_key_file", "routing_key", "url"]) {
                notify.pagerDutyKey = parseSecret(pf, env: "routing_key_env", file: "routing_key_file", inline: "routing_key", what: "PagerDuty routing key", reader: reader, environment: environment)
                if notify.pagerDutyKey == nil { reader.error(n, "notify.pagerduty.routing_key_env", "missing: give routing_key_env or routing_key_file (an Events API v2 integration key)") }
                if let u = pf["url"], let text = reader.string(u, "notify.pagerduty.url") { notify.pagerDutyURL = text }
            }
            if let n = f["webhook"], let wf = reader.mapping(n, "notify.webhook", keys: ["url", "secret_env", "secret_file", "secret"]) {
                if let u = reader.required(wf, "url", what: "where to POST, https://…"), let text = reader.string(u, "notify.webhook.url") {
                    if URL(string: text)?.scheme.map({ ["http", "https"].contains($0) }) == true { notify.webhookURL = text } else {
                        reader.error(u, "notify.webhook.url", "expected an http:// or https:// URL, found '\(text)'")
                    }
                }
                notify.webhookSecret = parseSecret(wf, env: "secret_env", file: "secret_file", inline: "secret", what: "webhook signing secret", reader: reader, environment: environment)
                if notify.webhookSecret == nil { reader.error(n, "notify.webhook.secret_env", "missing: give secret_env or secret_file (the HMAC-SHA256 signing secret)") }
            }
        }
        if top["files"] != nil {
            reader.warning(top.entries["files"]?.key, "files",
                           "ignored here: file replication is configured in each node's agent config (agent.yml, files:), see docs/agent.md")
        }
        var agents: AgentsConfig?
        if let node = top["agents"], let f = reader.mapping(node, "agents", keys: ["key_env", "key_file", "key", "timeout", "interval"]) {
            let key = parseSecret(f, env: "key_env", file: "key_file", inline: "key", what: "agent key", reader: reader, environment: environment)
            if key == nil { reader.error(node, "agents.key_file", "missing: give key_file or key_env (the HMAC key the agents share)") }
            let timeout = f["timeout"].flatMap { reader.duration($0, "agents.timeout", atLeast: .milliseconds(100)) } ?? .seconds(2)
            let interval = f["interval"].flatMap { reader.duration($0, "agents.interval", atLeast: .seconds(1)) } ?? .seconds(15)
            if let key { agents = AgentsConfig(key: key, timeout: timeout, interval: interval) }
        }
        if failover.leaseTTL != nil, let db, db.nodes.contains(where: { $0.agent == nil }) {
            let without = db.nodes.filter { $0.agent == nil }.map(\.name).joined(separator: ", ")
            reader.warning(top["failover"], "failover.lease_ttl",
                           "\(without) has no agent: as primary it holds no lease, and failover from it falls back to the standbys' WAL receivers")
        }
        if let n = top["failover"]?["failsafe"], failover.failsafe, failover.leaseTTL == nil {
            reader.warning(n, "failover.failsafe", "has no effect without failover.lease_ttl (failsafe mode keeps a primary writable when its lease cannot be renewed)")
        }
        let nodesWithAgents = (db?.nodes.filter { $0.agent != nil }.count ?? 0) + services.flatMap(\.config.nodes).filter { $0.agent != nil }.count
        if nodesWithAgents > 0, top["agents"] == nil {
            reader.error(top.node, "agents", "nodes name agents, but there is no agents: section with the key to sign requests with")
        }

        checkRegionTrigger(failover, top: top, services: services.map(\.config), dns: dns, db: db?.nodes ?? [], reader: reader)
        if failover.slots.managed, let db {
            let paths = Dictionary(db.names.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { first, _ in first })
            for group in ReplicationSlots.collisions(db.names.map(\.0)) {
                let (path, node) = paths[group[1]] ?? ("database.nodes", top.node)
                reader.error(node, path, "nodes \(group.joined(separator: " and ")) would share the replication slot \(ReplicationSlots.name(for: group[0])) (a slot name is lower-case letters, digits and '_'): rename one, or set replication_slots: {managed: false}")
            }
        }
        // Names are unique across database and service nodes: status output and the journal use them alone.
        var seen: [String: String] = [:]
        for (name, path, node) in (db?.names ?? []) + services.flatMap(\.names) {
            if let first = seen[name] {
                reader.error(node, path, "duplicate node name '\(name)' (first defined at \(first))")
            } else {
                seen[name] = path
            }
        }
        for region in regions where !(db?.regionsNamed.contains(region.region.name) ?? true) {
            reader.error(region.node, region.path, "region '\(region.region.name)' has no database node; every region needs one to fail over to")
        }
        if let db, db.entries == 1 {
            reader.warning(top["database"], "database.nodes", "only one database node: there is nothing to fail over to")
        }

        let fencing = top["fencing"].flatMap { node -> FencingConfig? in
            if reader.isNull(node) { return nil }
            return parseFencing(node, nodes: db?.nodes ?? [], reader: reader, environment: environment)
        }
        if fencing == nil, let db, let withID = db.nodes.first(where: { $0.linodeID != nil }) {
            reader.warning(top["database"], "database.nodes", "\(withID.name) has a linode_id but there is no fencing: section: nothing powers it off")
        }

        let tls = top["tls"].flatMap { node -> TLSSettings? in reader.isNull(node) ? nil : parseTLS(node, reader: reader) }
        if tls != nil {
            for agent in db?.agentURLs ?? [] where agent.url.lowercased().hasPrefix("http://") {
                reader.warning(agent.node, agent.path,
                               "plain HTTP although tls: is set: the monitor's signed orders to this agent and its answers travel unencrypted; use https:// and give the agent a certificate (docs/operations.md, \"TLS\")")
            }
        }
        let etcd = top["etcd"].flatMap { node -> EtcdConfig? in
            if reader.isNull(node) { return nil }
            return parseEtcd(node, reader: reader)
        }
        if etcd != nil, failover.leaseTTL == nil {
            reader.warning(top["etcd"], "etcd",
                           "several monitors without failover.lease_ttl: a primary cut off with the leading monitor keeps taking writes after another monitor fails over; set lease_ttl and run an agent on every database node")
        }

        let nodeBalancer = top["nodebalancer"].flatMap { node -> NodeBalancerConfig? in
            if reader.isNull(node) { return nil }
            return parseNodeBalancer(node, regions: regions.map(\.region.name), reader: reader, environment: environment)
        }

        guard let db else { return nil }
        let topology = Topology(
            regions: regions.map(\.region),
            databaseNodes: db.nodes.map { DatabaseNode(name: $0.name, region: $0.region) }
        )
        var config = LifeboatConfiguration(
            cluster: cluster, topology: topology, databaseNodes: db.nodes, services: services.map(\.config),
            detection: detection, failover: failover, dns: dns, api: api, notify: notify, agents: agents, fencing: fencing,
            etcd: etcd, tls: tls
        )
        config.nodeBalancer = nodeBalancer
        return config
    }

    static let nodeBalancerKeys = ["id", "config_id", "nodes", "standby_mode", "linode"]
    private static func parseNodeBalancer(_ node: Node, regions: [String], reader: ConfigReader, environment: [String: String]) -> NodeBalancerConfig? {
        guard let f = reader.mapping(node, "nodebalancer", keys: nodeBalancerKeys) else { return nil }
        let id = reader.required(f, "id", what: "the NodeBalancer's ID (linode-cli nodebalancers list)").flatMap { reader.int($0, "nodebalancer.id", min: 1) }
        let configID = reader.required(f, "config_id", what: "the ID of its port's config (linode-cli nodebalancers configs-list ID)")
            .flatMap { reader.int($0, "nodebalancer.config_id", min: 1) }
        var nodes: [String: Int] = [:]
        if let n = reader.required(f, "nodes", what: "each region's NodeBalancer node ID"), let m = reader.mapping(n, "nodebalancer.nodes", keys: regions) {
            for region in regions {
                guard let value = m[region] else {
                    reader.error(n, "nodebalancer.nodes.\(region)", "missing: every region needs its NodeBalancer node (linode-cli nodebalancers nodes-list ID CONFIG)")
                    continue
                }
                if let nodeID = reader.int(value, "nodebalancer.nodes.\(region)", min: 1) { nodes[region] = nodeID }
            }
            if Set(nodes.values).count < nodes.count { reader.error(n, "nodebalancer.nodes", "two regions name the same node") }
        }
        var standby = NodeBalancerConfig.StandbyMode.reject
        if let s = f["standby_mode"], let value = choice(NodeBalancerConfig.StandbyMode.self, s, "nodebalancer.standby_mode", reader: reader) { standby = value }
        let linode = parseLinode(f, section: "nodebalancer", scope: "nodebalancers:read_write", reader: reader, environment: environment)
        guard let id, let configID, let linode, nodes.count == regions.count else { return nil }
        return NodeBalancerConfig(id: id, configID: configID, nodes: nodes, standbyMode: standby, linode: linode)
    }

    static let tlsKeys = ["cert_file", "key_file", "ca_file", "client_certificates"]

    /// `tls:` in lifeboat.yml or agent.yml. Files must be absolute paths; whether they hold what they
    /// should is checked when the process starts (it loads them then, and says which one is wrong).
    static func parseTLS(_ node: Node, reader: ConfigReader) -> TLSSettings? {
        guard let f = reader.mapping(node, "tls", keys: tlsKeys) else { return nil }
        func file(_ key: String) -> String? {
            guard let n = f[key], let text = reader.string(n, "tls.\(key)") else { return nil }
            guard text.hasPrefix("/") else {
                reader.error(n, "tls.\(key)", "expected an absolute path to a PEM file, found '\(LogSafe.escape(text, maxLength: 120))'")
                return nil
            }
            return text
        }
        let cert = file("cert_file"), key = file("key_file"), ca = file("ca_file")
        var mode = TLSSettings.ClientCertificates.none
        if let n = f["client_certificates"], let text = reader.string(n, "tls.client_certificates") {
            if let parsed = TLSSettings.ClientCertificates(rawValue: text) { mode = parsed } else {
                reader.error(n, "tls.client_certificates", "expected none or require, found '\(LogSafe.escape(text, maxLength: 40))'")
            }
        }
        if (f["cert_file"] == nil) != (f["key_file"] == nil) {
            reader.error(node, "tls", "cert_file and key_file go together (this process's certificate and its private key)")
        }
        if mode == .require, f["ca_file"] == nil || f["cert_file"] == nil {
            reader.error(node, "tls.client_certificates", "require needs ca_file (the CA callers' certificates are checked against) and cert_file/key_file (this API's own)")
        }
        if f["cert_file"] == nil, f["ca_file"] == nil {
            reader.error(node, "tls", "expected cert_file and key_file (to serve HTTPS) and/or ca_file (to trust https:// peers)")
        }
        return TLSSettings(certFile: cert, keyFile: key, caFile: ca, clientCertificates: mode)
    }

    static let etcdKeys = ["endpoints", "session_ttl", "advertise"]

    /// `etcd:`: several monitors sharing the epoch, the state and the journal in etcd, one leading.
    private static func parseEtcd(_ node: Node, reader: ConfigReader) -> EtcdConfig? {
        guard let f = reader.mapping(node, "etcd", keys: etcdKeys) else { return nil }
        var endpoints: [String] = []
        if let list = reader.required(f, "endpoints", what: "a list of etcd client URLs, e.g. [http://10.0.1.10:2379]"),
           let items = reader.sequence(list, "etcd.endpoints") {
            for (index, item) in items.enumerated() {
                let path = "etcd.endpoints[\(index)]"
                guard let text = reader.string(item, path) else { continue }
                guard let url = URLComponents(string: text), url.scheme == "http", let host = url.host, !host.isEmpty, url.port != nil,
                      url.path.isEmpty || url.path == "/", url.user == nil, url.query == nil else {
                    reader.error(item, path, "expected an etcd client URL such as http://10.0.1.10:2379 (scheme http, a host and a port), found '\(LogSafe.escape(text, maxLength: 120))'")
                    continue
                }
                endpoints.append(text)
            }
            if items.isEmpty { reader.error(list, "etcd.endpoints", "expected at least one etcd client URL") }
        }
        var ttl = 3
        if let t = f["session_ttl"], let d = reader.duration(t, "etcd.session_ttl", atLeast: .seconds(2), atMost: .seconds(60)) {
            if d.components.attoseconds != 0 {
                reader.error(t, "etcd.session_ttl", "etcd counts leases in whole seconds: expected 2s to 60s in whole seconds, found \(DurationText.format(d))")
            } else {
                ttl = Int(d.components.seconds)
            }
        }
        var advertise: String?
        if let a = f["advertise"] { advertise = parseAgentURL(a, "etcd.advertise", reader: reader, what: "this monitor's API base URL as the others reach it, such as http://10.0.0.5:8547") }
        guard !endpoints.isEmpty else { return nil }
        return EtcdConfig(endpoints: endpoints, sessionTTLSeconds: ttl, advertise: advertise)
    }

    static let fencingKeys = ["power_off", "linode", "wait"]

    /// `fencing:`: hard fencing by powering the old primary's machine off (`power_off: linode`, the
    /// token under `linode:`, `wait` for it to be off), for nodes with a `linode_id`.
    private static func parseFencing(_ node: Node, nodes: [DatabaseNodeConfig], reader: ConfigReader, environment: [String: String]) -> FencingConfig? {
        guard let f = reader.mapping(node, "fencing", keys: fencingKeys) else { return nil }
        guard let providerNode = reader.required(f, "power_off", what: "linode"), let provider = reader.string(providerNode, "fencing.power_off") else { return nil }
        guard provider == "linode" else {
            reader.error(providerNode, "fencing.power_off", "expected linode (the only power-off provider in this version), found '\(LogSafe.escape(provider, maxLength: 40))'")
            return nil
        }
        let wait = f["wait"].flatMap { reader.duration($0, "fencing.wait", atLeast: .seconds(1), atMost: .seconds(600)) } ?? .seconds(30)
        let linode = parseLinode(f, section: "fencing", scope: "linodes:read_write", reader: reader, environment: environment)
        let without = nodes.filter { $0.linodeID == nil }.map(\.name)
        if !without.isEmpty, without.count < nodes.count {
            reader.warning(node, "fencing", "\(without.joined(separator: ", ")) has no linode_id: it cannot be powered off")
        } else if !nodes.isEmpty, without.count == nodes.count {
            reader.error(node, "fencing", "no database node has a linode_id: give each node's Linode ID (linode-cli linodes list)")
        }
        guard let linode else { return nil }
        return FencingConfig(linode: linode, wait: wait)
    }

    struct ParsedRegion { var region: Region; var node: Node; var path: String }

    private static func parseRegions(_ top: Fields, reader: ConfigReader) -> [ParsedRegion] {
        guard let node = reader.required(top, "regions", what: "a list of regions with name and priority"),
              let items = reader.sequence(node, "regions") else { return [] }
        if items.isEmpty { reader.error(node, "regions", "expected at least one region") }
        var regions: [ParsedRegion] = []
        for (index, item) in items.enumerated() {
            let path = "regions[\(index)]"
            guard let fields = reader.mapping(item, path, keys: regionKeys) else { continue }
            let name = reader.required(fields, "name", what: "the region's name, e.g. us-east").flatMap { reader.name($0, fields.path("name")) }
            let priority = fields["priority"].flatMap { reader.int($0, fields.path("priority"), min: 0) } ?? (index + 1)
            guard let name else { continue }
            if let first = regions.first(where: { $0.region.name == name }) {
                reader.error(item, fields.path("name"), "duplicate region name '\(name)' (first defined at \(first.path))")
                continue
            }
            regions.append(ParsedRegion(region: Region(name: name, priority: priority), node: item, path: path))
        }
        return regions
    }

    struct ParsedDatabase {
        var nodes: [DatabaseNodeConfig]
        var names: [(String, String, Node)]
        /// Regions named by a node entry, even one with other errors (so a missing host does not
        /// also report its region as empty).
        var regionsNamed: Set<String> = []
        /// Entries in the list, parsed or not.
        var entries = 0
        /// Each node's agent URL where it was written (for the plain-HTTP-with-tls warning).
        var agentURLs: [(url: String, path: String, node: Node)] = []
    }

    private static func parseDatabase(_ node: Node, regions: [ParsedRegion], reader: ConfigReader, environment: [String: String]) -> ParsedDatabase? {
        guard let fields = reader.mapping(node, "database", keys: databaseKeys) else { return nil }
        let defaultUser = fields["user"].flatMap { reader.string($0, "database.user") } ?? "postgres"
        let defaultDB = fields["dbname"].flatMap { reader.string($0, "database.dbname") } ?? "postgres"
        let defaultPassword = parsePassword(fields, reader: reader, environment: environment)
        let defaultTLS = fields["sslmode"].flatMap { parseTLS($0, "database.sslmode", reader: reader) } ?? .disable

        guard let nodesNode = reader.required(fields, "nodes", what: "a list of PostgreSQL nodes"),
              let items = reader.sequence(nodesNode, "database.nodes") else { return nil }
        var result = ParsedDatabase(nodes: [], names: [], entries: items.count)
        for (index, item) in items.enumerated() {
            let path = "database.nodes[\(index)]"
            guard let f = reader.mapping(item, path, keys: databaseNodeKeys) else { continue }
            let name = reader.required(f, "name", what: "a unique node name").flatMap { reader.name($0, f.path("name")) }
            let region = reader.required(f, "region", what: "one of the regions above").flatMap { checkRegion($0, f.path("region"), regions, reader) }
            let host = reader.required(f, "host", what: "address the monitor connects to").flatMap { reader.string($0, f.path("host")) }
            let port = f["port"].flatMap { reader.int($0, f.path("port"), min: 1, max: 65535) } ?? 5432
            let user = f["user"].flatMap { reader.string($0, f.path("user")) } ?? defaultUser
            let dbname = f["dbname"].flatMap { reader.string($0, f.path("dbname")) } ?? defaultDB
            let password = parsePassword(f, reader: reader, environment: environment) ?? defaultPassword
            let tls = f["sslmode"].flatMap { parseTLS($0, f.path("sslmode"), reader: reader) } ?? defaultTLS
            let agent = f["agent"].flatMap { parseAgentURL($0, f.path("agent"), reader: reader) }
            if let agent, let at = f["agent"] { result.agentURLs.append((agent, f.path("agent"), at)) }
            let linodeID = f["linode_id"].flatMap { reader.int($0, f.path("linode_id"), min: 1, max: Int(Int32.max)) }
            if let name { result.names.append((name, f.path("name"), f["name"]!)) }
            if let region { result.regionsNamed.insert(region) }
            guard let name, let region, let host else { continue }
            var config = DatabaseNodeConfig(name: name, region: region, host: host, port: port, user: user,
                                            database: dbname, password: password, tls: tls, agent: agent)
            config.linodeID = linodeID
            result.nodes.append(config)
        }
        return result
    }

    private static func parsePassword(_ f: Fields, reader: ConfigReader, environment: [String: String]) -> SecretSource? {
        parseSecret(f, env: "password_env", file: "password_file", inline: "password", what: "password", reader: reader, environment: environment)
    }

    /// One secret given as an environment variable, a file, or (with a warning) inline. The
    /// variable's name and the file's path are checked, and so is the secret itself when it can be
    /// read here (`check` returns what is wrong with it). A value that is not what the key asks
    /// for is never echoed: it may be the secret, pasted in the wrong place.
    static func parseSecret(_ f: Fields, env: String, file: String, inline: String, what: String,
                            reader: ConfigReader, environment: [String: String], program: String = "monitor",
                            check: ((String) -> String?)? = nil) -> SecretSource? {
        let given = [env, file, inline].filter { f[$0] != nil }
        if given.count > 1 {
            reader.error(f[given[1]], f.path(given[1]), "give only one of \(given.joined(separator: ", "))")
        }
        func checked(_ value: String?, _ node: Node, _ path: String) {
            guard let value, !value.isEmpty, let check, let problem = check(value) else { return }
            reader.error(node, path, "the \(what) \(problem) (its value is not shown)")
        }
        if let node = f[env], let name = reader.string(node, f.path(env)) {
            guard isEnvironmentName(name), !looksLikeASecret(name) else {
                reader.error(node, f.path(env), "must name an environment variable (letters, digits and _, not starting with a digit); "
                             + "the value given is not a name and may be the \(what) itself, so it is not shown: put the secret in the environment and name the variable here")
                return nil
            }
            if environment[name]?.isEmpty ?? true {
                reader.warning(node, f.path(env), "environment variable \(name) is not set here; the \(program) needs it at start")
            }
            checked(environment[name], node, f.path(env))
            return .environment(name)
        }
        if let node = f[file], let path = reader.string(node, f.path(file)) {
            guard path.hasPrefix("/"), !path.contains(where: { $0.isNewline || $0.asciiValue.map { $0 < 0x20 } == true }) else {
                reader.error(node, f.path(file), "must be an absolute path to a file holding the \(what), such as /etc/lifeboat/secret; "
                             + "the value given is not one and may be the secret itself, so it is not shown")
                return nil
            }
            if !FileManager.default.isReadableFile(atPath: path) {
                reader.warning(node, f.path(file), "cannot read \(path) here; the \(program) needs it at start")
            } else {
                checked((try? SecretSource.file(path).resolve(environment: environment))?.reveal(), node, f.path(file))
            }
            return .file(path)
        }
        if let node = f[inline], let value = reader.string(node, f.path(inline)) {
            reader.warning(f.entries[inline]?.key, f.path(inline), "inline \(what): anyone who can read this file can read it; use \(env) or \(file)")
            checked(value, node, f.path(inline))
            return .inline(Secret(value))
        }
        return nil
    }

    /// A token pasted where a variable's name belongs: a run of 16 or more characters mixing
    /// lowercase letters and digits (variable names are words: LINODE_TOKEN, pg_password_2).
    static func looksLikeASecret(_ name: String) -> Bool {
        name.split(separator: "_").contains { part in
            part.count >= 16 && part.contains(where: \.isNumber) && part.contains(where: \.isLowercase)
        }
    }

    /// POSIX: letters, digits and underscore, not starting with a digit.
    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 255 else { return false }
        let allowed = { (c: Unicode.Scalar) in (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "_" }
        return !(first >= "0" && first <= "9") && name.unicodeScalars.allSatisfy(allowed)
    }

    private static func parseTLS(_ node: Node, _ path: String, reader: ConfigReader) -> DatabaseNodeConfig.TLSMode? {
        guard let text = reader.string(node, path) else { return nil }
        guard let mode = DatabaseNodeConfig.TLSMode(rawValue: text) else {
            let all = DatabaseNodeConfig.TLSMode.allCases.map(\.rawValue)
            reader.error(node, path, "expected one of \(all.joined(separator: ", ")), found '\(text)'\(Suggestions.hint(for: text, in: all))")
            return nil
        }
        return mode
    }

    private static func checkRegion(_ node: Node, _ path: String, _ regions: [ParsedRegion], _ reader: ConfigReader) -> String? {
        guard let name = reader.string(node, path) else { return nil }
        let names = regions.map(\.region.name)
        guard names.contains(name) else {
            let known = names.isEmpty ? "none are defined" : "defined: \(names.joined(separator: ", "))"
            reader.error(node, path, "region '\(name)' is not defined under regions (\(known))\(Suggestions.hint(for: name, in: names))")
            return nil
        }
        return name
    }

    struct ParsedService {
        var config: ServiceConfig
        var names: [(String, String, Node)]
    }

    private static func parseServices(_ node: Node, regions: [ParsedRegion], reader: ConfigReader) -> [ParsedService] {
        guard let items = reader.sequence(node, "services") else { return [] }
        var services: [ParsedService] = []
        for (index, item) in items.enumerated() {
            let path = "services[\(index)]"
            guard let f = reader.mapping(item, path, keys: serviceKeys) else { continue }
            let name = reader.required(f, "name", what: "the service's name").flatMap { reader.name($0, f.path("name")) }
            var service = ParsedService(config: ServiceConfig(name: name ?? "", nodes: []), names: [])
            if let nodesNode = reader.required(f, "nodes", what: "the service's nodes"), let nodes = reader.sequence(nodesNode, f.path("nodes")) {
                for (n, nodeItem) in nodes.enumerated() {
                    let nodePath = "\(path).nodes[\(n)]"
                    guard let nf = reader.mapping(nodeItem, nodePath, keys: serviceNodeKeys) else { continue }
                    let nodeName = reader.required(nf, "name", what: "a unique node name").flatMap { reader.name($0, nf.path("name")) }
                    let region = reader.required(nf, "region", what: "one of the regions above").flatMap { checkRegion($0, nf.path("region"), regions, reader) }
                    let health = reader.required(nf, "health", what: "the node's health URL, e.g. http://10.0.0.3:8080/healthz")
                        .flatMap { parseHealthURL($0, nf.path("health"), reader: reader) }
                    if let nodeName { service.names.append((nodeName, nf.path("name"), nf["name"]!)) }
                    if let nodeName, let region, let health {
                        let body = nf["health_body"].flatMap { reader.string($0, nf.path("health_body")) }
                        let agent = nf["agent"].flatMap { parseAgentURL($0, nf.path("agent"), reader: reader) }
                        let address = nf["address"].flatMap { a -> IPv4? in
                            guard let text = reader.string(a, nf.path("address")) else { return nil }
                            guard let ip = IPv4(text) else {
                                reader.error(a, nf.path("address"), "expected the IPv4 address the DNS record holds for this node, such as 192.0.2.10, found '\(LogSafe.escape(text, maxLength: 80))'")
                                return nil
                            }
                            return ip
                        }
                        service.config.nodes.append(ServiceNodeConfig(name: nodeName, region: region, health: health, healthBody: body, agent: agent, address: address))
                    }
                }
            }
            if name != nil { services.append(service) }
        }
        return services
    }

    private static func parseAgentURL(_ node: Node, _ path: String, reader: ConfigReader,
                                      what: String = "the agent's base URL such as http://10.0.1.5:8548") -> String? {
        guard let text = reader.string(node, path) else { return nil }
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.path.isEmpty || url.path == "/" else {
            reader.error(node, path, "expected \(what), found '\(LogSafe.escape(text, maxLength: 120))'")
            return nil
        }
        return text
    }

    private static func parseHealthURL(_ node: Node, _ path: String, reader: ConfigReader) -> String? {
        guard let text = reader.string(node, path) else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https", "tcp"].contains(scheme), url.host != nil else {
            reader.error(node, path, "expected an http://, https:// or tcp:// URL with a host, found '\(text)'")
            return nil
        }
        if scheme == "tcp", url.port == nil {
            reader.error(node, path, "a tcp:// health check needs a port, e.g. tcp://10.0.0.3:8080")
            return nil
        }
        return text
    }

    private static func parseDetection(_ node: Node, reader: ConfigReader) -> DetectionSettings {
        var settings = DetectionSettings.default
        guard let f = reader.mapping(node, "detection", keys: detectionKeys) else { return settings }
        if let n = f["interval"], let v = reader.duration(n, f.path("interval"), atLeast: .milliseconds(10), atMost: .seconds(3600)) { settings.interval = v }
        if let n = f["timeout"], let v = reader.duration(n, f.path("timeout"), atLeast: .milliseconds(10), atMost: .seconds(600)) { settings.timeout = v }
        if let n = f["suspect_interval"], let v = reader.duration(n, f.path("suspect_interval"), atLeast: .milliseconds(10), atMost: .seconds(3600)) {
            settings.suspectInterval = v
        }
        if let n = f["failure_threshold"], let v = reader.int(n, f.path("failure_threshold"), min: 1, max: 100) { settings.failureThreshold = v }
        if let n = f["recovery_threshold"], let v = reader.int(n, f.path("recovery_threshold"), min: 1, max: 100) { settings.recoveryThreshold = v }
        if settings.suspectInterval > settings.interval {
            reader.warning(f["suspect_interval"] ?? node, f.path("suspect_interval"), "longer than interval; a failing node would be probed less often than a healthy one")
        }
        return settings
    }


    /// Where a YAML error is and what it is, without the document (Yams' own description
    /// repeats the whole file). Positions are 1-based; a reader error (a control character, bad
    /// UTF-8) comes as an offset, turned into a line and column here.
    static func describe(_ error: YamlError, in yaml: String) -> (Position?, String) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let text = [context.map { "\($0.text) (line \($0.mark.line), column \($0.mark.column))" }, problem].compactMap { $0 }.joined(separator: ", ")
            return (mark.line >= 1 ? Position(line: mark.line, column: max(1, mark.column)) : position(ofOffset: nil, in: yaml), text)
        case .reader(let problem, let offset, let value, _):
            let character = value >= 0 ? String(format: " (U+%04X)", Int(value)) : ""
            return (position(ofOffset: offset, in: yaml), "\(problem)\(character)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\(LogSafe.escape($0, maxLength: 40))'" }.joined(separator: ", ")
            return (Position(line: max(1, context.mark.line), column: max(1, context.mark.column)), "key \(keys) appears more than once in this mapping")
        case .memory: return (nil, "out of memory")
        case .dataCouldNotBeDecoded: return (nil, "the file is not UTF-8 text")
        case .no, .writer, .emitter, .representer: return (nil, "cannot be read")
        }
    }

    /// Line and column (1-based) of the `offset`-th character; the last line's end when unknown.
    struct Position: Equatable {
        var line: Int
        var column: Int
    }

    static func position(ofOffset offset: Int?, in yaml: String) -> Position {
        var line = 1, column = 1, index = 0
        for character in yaml {
            if let offset, index >= offset { break }
            if character == "\n" || character == "\r\n" { line += 1; column = 1 } else { column += 1 }
            index += 1
        }
        return Position(line: line, column: column)
    }
}
