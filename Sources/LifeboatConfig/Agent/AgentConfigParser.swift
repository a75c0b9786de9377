import Foundation
import LifeboatCore
import Yams

/// The agent's config schema, reported like the monitor's: every problem at once, with its position.
public enum AgentConfigParser {
    static let topKeys = ["version", "node", "region", "listen", "key_env", "key_file", "key", "cache", "database", "fence", "checks", "deployment", "files", "tls",
                          "state_file", "lease", "postgresql"]
    static let postgresqlKeys = ["bin_dir", "data_directory", "config_directory", "run_as", "log_file", "replication_user", "passfile", "sslmode"]
    static let databaseKeys = ["host", "port", "user", "dbname", "password_env", "password_file", "password", "sslmode"]
    static let fenceKeys = ["method", "pg_ctl", "data_directory", "run_as"]
    static let checkTypes = ["postgresql", "mysql", "tcp", "http", "disk", "command"]
    static let checkKeys: [String: [String]] = [
        "postgresql": [],
        "mysql": ["host", "port", "user", "dbname", "password_env", "password_file", "password"],
        "tcp": ["address"],
        "http": ["url", "expect_body"],
        "disk": ["path", "min_free", "min_free_percent"],
        "command": ["command"],
    ]
    static let filesKeys = ["paths", "interval", "timeout", "exclude", "bwlimit", "delete", "sources", "primary_region", "state_file", "ssh_command"]
    public static let defaultPort = 8548

    public static func parse(yaml: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (AgentConfiguration?, [Diagnostic])
    {
        ConfigParser.document(yaml: yaml, file: file, topKeys: topKeys) { parseRoot($0, reader: $1, environment: environment) }
    }

    /// Reads and validates an agent config file; throws `ConfigurationError` with every problem.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentConfiguration {
        let text = try ConfigLoader.readText(path)
        let (config, diagnostics) = parse(yaml: text, file: path, environment: environment)
        guard let config else { throw ConfigurationError(diagnostics: diagnostics) }
        return config
    }

    private static func parseRoot(_ root: Node, reader: ConfigReader, environment: [String: String]) -> AgentConfiguration? {
        guard let top = reader.mapping(root, "", keys: topKeys) else { return nil }
        if let version = top["version"], let value = reader.int(version, "version"), value != 1 {
            reader.error(version, "version", "unsupported config version \(value); this Lifeboat reads version 1")
        }
        let node = reader.required(top, "node", what: "this node's name, as the monitor's config names it").flatMap { reader.name($0, "node") }
        let region = reader.required(top, "region", what: "this node's region").flatMap { reader.name($0, "region") }
        var listen = HostPort(host: "127.0.0.1", port: defaultPort)
        if let l = top["listen"], let text = reader.string(l, "listen") {
            if let hp = HostPort(parsing: text, defaultPort: defaultPort) { listen = hp } else {
                reader.error(l, "listen", "expected an IPv4 address and port such as 0.0.0.0:\(defaultPort), found '\(text)'")
            }
        }
        let key = ConfigParser.parseSecret(top, env: "key_env", file: "key_file", inline: "key", what: "agent key",
                                           reader: reader, environment: environment, program: "agent")
        if key == nil, top["key_env"] == nil, top["key_file"] == nil, top["key"] == nil {
            reader.error(top.node, "key_file", "missing required key 'key_file' (the HMAC key shared with the monitor; or key_env)")
        }
        let cache = top["cache"].flatMap { reader.duration($0, "cache") } ?? .seconds(1)
        var stateFile = AgentConfiguration.defaultStateFile
        if let n = top["state_file"], let path = reader.string(n, "state_file") {
            if path.hasPrefix("/") { stateFile = path } else { reader.error(n, "state_file", "expected an absolute path, found \(reader.describe(n))") }
        }

        let database = top["database"].flatMap { parseDatabase($0, node: node ?? "", region: region ?? "", reader: reader, environment: environment) }
        let parsedFence = top["fence"].flatMap { parseFence($0, reader: reader) }
        let fence = parsedFence ?? .readOnly
        if parsedFence == .readOnly, database == nil {
            reader.error(top["fence"], "fence", "fencing needs the database: section (the PostgreSQL to make read-only)")
        }
        var checks: [AgentCheck] = []
        if let node = top["checks"], let items = reader.sequence(node, "checks") {
            var names: [String: String] = [:]
            for (index, item) in items.enumerated() {
                let path = "checks[\(index)]"
                guard let check = parseCheck(item, path: path, reader: reader, environment: environment) else { continue }
                if let first = names[check.name] {
                    reader.error(item, "\(path).name", "duplicate check name '\(check.name)' (first at \(first))")
                }
                names[check.name] = path
                if check.kind == .postgresql, database == nil {
                    reader.error(item, "\(path).type", "a postgresql check needs the database: section")
                }
                checks.append(check)
            }
        }
        var deployment = DeploymentFiles()
        if let d = top["deployment"], let f = reader.mapping(d, "deployment", keys: ["binary", "config_files"]) {
            deployment.binary = f["binary"].flatMap { reader.string($0, "deployment.binary") }
            if let c = f["config_files"], let items = reader.sequence(c, "deployment.config_files") {
                deployment.configFiles = items.enumerated().compactMap { reader.string($0.element, "deployment.config_files[\($0.offset)]") }
            }
        }
        let files = top["files"].flatMap { parseFiles($0, ownRegion: region, reader: reader) }
        let tls = top["tls"].flatMap { node -> TLSSettings? in reader.isNull(node) ? nil : ConfigParser.parseTLS(node, reader: reader) }
        var lease: LeaseConfig?
        if let n = top["lease"], let lf = reader.mapping(n, "lease", keys: ["monitor", "renew_every"]) {
            func url(_ m: Node, _ path: String) -> String? {
                guard let text = reader.string(m, path) else { return nil }
                guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.path.isEmpty || url.path == "/" else {
                    reader.error(m, path, "expected the monitor's base URL such as http://10.0.0.5:8547, found \(reader.describe(m))")
                    return nil
                }
                return text
            }
            // One monitor's URL, or a list of every monitor's (several monitors over etcd).
            var monitors: [String]?
            if let m = reader.required(lf, "monitor", what: "the monitor's API URL, e.g. http://10.0.0.5:8547 (or a list of every monitor's)") {
                if case .sequence = m {
                    let items = reader.sequence(m, "lease.monitor") ?? []
                    let urls = items.enumerated().compactMap { url($0.element, "lease.monitor[\($0.offset)]") }
                    if items.isEmpty { reader.error(m, "lease.monitor", "expected at least one monitor URL") }
                    if urls.count == items.count, !items.isEmpty { monitors = urls }
                } else {
                    monitors = url(m, "lease.monitor").map { [$0] }
                }
            }
            let every = lf["renew_every"].flatMap { reader.duration($0, "lease.renew_every", atLeast: .milliseconds(100), atMost: .seconds(60)) } ?? .seconds(1)
            if database == nil { reader.error(n, "lease", "a lease needs the database: section (the PostgreSQL it fences when it cannot renew)") }
            if let monitors { lease = LeaseConfig(monitors: monitors, renewEvery: every) }
            if tls != nil, let m = lf["monitor"], monitors?.contains(where: { $0.lowercased().hasPrefix("http://") }) == true {
                reader.warning(m, "lease.monitor",
                               "plain HTTP although tls: is set: lease renewals travel unencrypted; use the monitor's https:// URL (docs/operations.md, \"TLS\")")
            }
        }

        guard let node, let region, let key else { return nil }
        var config = AgentConfiguration(node: node, region: region, listen: listen, key: key, cacheFor: cache, database: database,
                                        fence: fence, checks: checks, deployment: deployment, files: files, stateFile: stateFile, lease: lease)
        config.tls = tls
        config.postgresql = top["postgresql"].flatMap { parsePostgresql($0, reader: reader) }
        if config.postgresql != nil, database == nil {
            reader.error(top["postgresql"], "postgresql", "postgresql: needs the database: section (the agent checks its PostgreSQL over SQL before and after a rejoin)")
        }
        return config
    }

    private static func parsePostgresql(_ node: Node, reader: ConfigReader) -> PostgresControl? {
        guard let f = reader.mapping(node, "postgresql", keys: postgresqlKeys) else { return nil }
        func path(_ key: String) -> String? {
            guard let n = f[key], let text = reader.string(n, "postgresql.\(key)") else { return nil }
            guard text.hasPrefix("/") else {
                reader.error(n, "postgresql.\(key)", "expected an absolute path, found \(reader.describe(n))")
                return nil
            }
            return text
        }
        let data = reader.required(f, "data_directory", what: "the PostgreSQL data directory, e.g. /var/lib/postgresql/15/main") != nil ? path("data_directory") : nil
        var control = PostgresControl(binDirectory: path("bin_dir") ?? "/usr/lib/postgresql/15/bin", dataDirectory: data ?? "/")
        control.configDirectory = path("config_directory")
        control.logFile = path("log_file")
        control.passfile = path("passfile")
        if let n = f["run_as"], let user = reader.string(n, "postgresql.run_as") {
            if user.isEmpty || user.contains(where: { $0.isWhitespace || $0 == "/" }) {
                reader.error(n, "postgresql.run_as", "expected an OS user name such as postgres, found \(reader.describe(n))")
            } else { control.runAs = user }
        }
        if let n = f["replication_user"], let user = reader.string(n, "postgresql.replication_user") {
            if user.isEmpty || user.contains(where: { $0.isWhitespace || $0 == "'" || $0 == "\\" }) {
                reader.error(n, "postgresql.replication_user", "expected a role name without spaces or quotes, found \(reader.describe(n))")
            } else { control.replicationUser = user }
        }
        if let s = f["sslmode"], let text = reader.string(s, "postgresql.sslmode") {
            if let mode = DatabaseNodeConfig.TLSMode(rawValue: text) { control.sslmode = mode } else {
                let all = DatabaseNodeConfig.TLSMode.allCases.map(\.rawValue)
                reader.error(s, "postgresql.sslmode", "expected one of \(all.joined(separator: ", ")), found '\(text)'\(Suggestions.hint(for: text, in: all))")
            }
        }
        guard data != nil else { return nil }
        return control
    }

    private static func parseDatabase(_ node: Node, node name: String, region: String, reader: ConfigReader, environment: [String: String]) -> DatabaseNodeConfig? {
        guard let f = reader.mapping(node, "database", keys: databaseKeys) else { return nil }
        let host = f["host"].flatMap { reader.string($0, "database.host") } ?? "127.0.0.1"
        let port = f["port"].flatMap { reader.int($0, "database.port", min: 1, max: 65535) } ?? 5432
        let user = f["user"].flatMap { reader.string($0, "database.user") } ?? "postgres"
        let dbname = f["dbname"].flatMap { reader.string($0, "database.dbname") } ?? "postgres"
        let password = ConfigParser.parseSecret(f, env: "password_env", file: "password_file", inline: "password", what: "password",
                                                reader: reader, environment: environment, program: "agent")
        var tls = DatabaseNodeConfig.TLSMode.disable
        if let s = f["sslmode"], let text = reader.string(s, "database.sslmode") {
            if let mode = DatabaseNodeConfig.TLSMode(rawValue: text) { tls = mode } else {
                let all = DatabaseNodeConfig.TLSMode.allCases.map(\.rawValue)
                reader.error(s, "database.sslmode", "expected one of \(all.joined(separator: ", ")), found '\(text)'\(Suggestions.hint(for: text, in: all))")
            }
        }
        return DatabaseNodeConfig(name: name, region: region, host: host, port: port, user: user, database: dbname, password: password, tls: tls)
    }

    private static func parseFence(_ node: Node, reader: ConfigReader) -> FenceMethod? {
        guard let f = reader.mapping(node, "fence", keys: fenceKeys) else { return nil }
        let method = f["method"].flatMap { reader.string($0, "fence.method") } ?? "read-only"
        switch method {
        case "read-only":
            for key in ["pg_ctl", "data_directory", "run_as"] where f[key] != nil {
                reader.warning(f.entries[key]?.key, f.path(key), "only used with method: stop")
            }
            return .readOnly
        case "stop":
            let pgCtl = f["pg_ctl"].flatMap { reader.string($0, "fence.pg_ctl") } ?? "/usr/lib/postgresql/15/bin/pg_ctl"
            let dataDir = reader.required(f, "data_directory", what: "the PostgreSQL data directory pg_ctl stops").flatMap { reader.string($0, "fence.data_directory") }
            let runAs = f["run_as"].flatMap { reader.string($0, "fence.run_as") }
            guard let dataDir else { return nil }
            return .stop(pgCtl: pgCtl, dataDirectory: dataDir, runAs: runAs)
        default:
            reader.error(f["method"], "fence.method", "expected read-only or stop, found '\(method)'\(Suggestions.hint(for: method, in: ["read-only", "stop"]))")
            return nil
        }
    }

    private static func parseCheck(_ node: Node, path: String, reader: ConfigReader, environment: [String: String]) -> AgentCheck? {
        // The allowed keys depend on the type: read the type first, then check the keys.
        guard case .mapping(let mapping) = node else {
            reader.error(node, path, "expected a mapping with keys name, type, timeout, …, found \(reader.describe(node))")
            return nil
        }
        let typeNode = mapping.first { $0.key.scalar?.string == "type" }?.value
        guard let typeNode else {
            reader.error(node, "\(path).type", "missing required key 'type' (one of \(checkTypes.joined(separator: ", ")))")
            return nil
        }
        guard let type = reader.string(typeNode, "\(path).type") else { return nil }
        guard let extra = checkKeys[type] else {
            reader.error(typeNode, "\(path).type", "expected one of \(checkTypes.joined(separator: ", ")), found '\(type)'\(Suggestions.hint(for: type, in: checkTypes))")
            return nil
        }
        guard let f = reader.mapping(node, path, keys: ["name", "type", "timeout"] + extra) else { return nil }
        let name = f["name"].flatMap { reader.string($0, f.path("name")) } ?? type
        let timeout = f["timeout"].flatMap { reader.duration($0, f.path("timeout"), atLeast: .milliseconds(1)) } ?? .seconds(1)
        let kind: AgentCheck.Kind?
        switch type {
        case "postgresql":
            kind = .postgresql
        case "mysql":
            let host = f["host"].flatMap { reader.string($0, f.path("host")) } ?? "127.0.0.1"
            let port = f["port"].flatMap { reader.int($0, f.path("port"), min: 1, max: 65535) } ?? 3306
            let user = reader.required(f, "user", what: "the MySQL/MariaDB user").flatMap { reader.string($0, f.path("user")) }
            let db = f["dbname"].flatMap { reader.string($0, f.path("dbname")) }
            let password = ConfigParser.parseSecret(f, env: "password_env", file: "password_file", inline: "password", what: "password",
                                                    reader: reader, environment: environment, program: "agent")
            kind = user.map { .mysql(MySQLTarget(host: host, port: port, user: $0, password: password, database: db)) }
        case "tcp":
            kind = reader.required(f, "address", what: "host:port to connect to").flatMap { n -> AgentCheck.Kind? in
                guard let text = reader.string(n, f.path("address")) else { return nil }
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
                      colon != text.startIndex else {
                    reader.error(n, f.path("address"), "expected host:port such as 127.0.0.1:8080, found '\(text)'")
                    return nil
                }
                return .tcp(host: String(text[..<colon]), port: port)
            }
        case "http":
            kind = reader.required(f, "url", what: "http://… to GET").flatMap { n -> AgentCheck.Kind? in
                guard let text = reader.string(n, f.path("url")) else { return nil }
                guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                    reader.error(n, f.path("url"), "expected an http:// or https:// URL, found '\(text)'")
                    return nil
                }
                return .http(url: text, expectBody: f["expect_body"].flatMap { reader.string($0, f.path("expect_body")) })
            }
        case "disk":
            let diskPath = reader.required(f, "path", what: "a directory on the filesystem to watch").flatMap { reader.string($0, f.path("path")) }
            let minFree = f["min_free"].flatMap { reader.bytes($0, f.path("min_free")) }
            var percent: Double?
            if let p = f["min_free_percent"] {
                if case .scalar(let s) = p, let value = Double(s.string.replacingOccurrences(of: "%", with: "")), (0...100).contains(value) {
                    percent = value
                } else {
                    reader.error(p, f.path("min_free_percent"), "expected a percentage between 0 and 100, found \(reader.describe(p))")
                }
            }
            if minFree == nil, percent == nil, f["min_free"] == nil, f["min_free_percent"] == nil {
                reader.error(f.node, f.path("min_free"), "missing required key 'min_free' (such as 1GiB; or min_free_percent)")
            }
            kind = diskPath.map { .disk(path: $0, minFreeBytes: minFree, minFreePercent: percent) }
        case "command":
            kind = reader.required(f, "command", what: "the program and its arguments, as a list").flatMap { n -> AgentCheck.Kind? in
                if case .scalar = n, let text = reader.string(n, f.path("command")) {
                    return .command(text.split(separator: " ").map(String.init))
                }
                guard let items = reader.sequence(n, f.path("command")), !items.isEmpty else {
                    reader.error(n, f.path("command"), "must name a program")
                    return nil
                }
                let argv = items.enumerated().compactMap { reader.string($0.element, f.path("command[\($0.offset)]")) }
                guard argv.count == items.count else { return nil }
                if !argv[0].hasPrefix("/") {
                    reader.error(items[0], f.path("command[0]"), "give the program's absolute path, found '\(argv[0])'")
                    return nil
                }
                return .command(argv)
            }
        default:
            kind = nil
        }
        return kind.map { AgentCheck(name: name, timeout: timeout, kind: $0) }
    }

    private static func parseFiles(_ node: Node, ownRegion: String?, reader: ConfigReader) -> FilesConfig? {
        guard let f = reader.mapping(node, "files", keys: filesKeys) else { return nil }
        var paths: [FilesConfig.SyncedPath] = []
        if let p = reader.required(f, "paths", what: "the directories to replicate"), let items = reader.sequence(p, "files.paths") {
            for (index, item) in items.enumerated() {
                let path = "files.paths[\(index)]"
                guard let pf = reader.mapping(item, path, keys: ["name", "path"]) else { continue }
                let name = reader.required(pf, "name", what: "a short name: metrics label and rsync module").flatMap { reader.string($0, pf.path("name")) }
                let dir = reader.required(pf, "path", what: "an absolute directory").flatMap { reader.string($0, pf.path("path")) }
                if let name, !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) || !name.allSatisfy(\.isASCII) {
                    reader.error(pf["name"], pf.path("name"), "use letters, digits, - and _ only, found '\(name)'")
                }
                if let name, paths.contains(where: { $0.name == name }) {
                    reader.error(pf["name"], pf.path("name"), "duplicate path name '\(name)'")
                }
                if let dir, !dir.hasPrefix("/") { reader.error(pf["path"], pf.path("path"), "expected an absolute directory, found '\(dir)'") }
                if let name, let dir { paths.append(.init(name: name, path: dir)) }
            }
        }
        let interval = f["interval"].flatMap { reader.duration($0, "files.interval", atLeast: .seconds(1)) } ?? .seconds(30)
        let timeout = f["timeout"].flatMap { reader.duration($0, "files.timeout", atLeast: .seconds(1)) } ?? .seconds(600)
        var excludes: [String] = []
        if let e = f["exclude"], let items = reader.sequence(e, "files.exclude") {
            excludes = items.enumerated().compactMap { reader.string($0.element, "files.exclude[\($0.offset)]") }
        }
        var bwlimit: Int?
        if let b = f["bwlimit"], let bytes = reader.bytes(b, "files.bwlimit") {
            if bytes < 1024 { reader.error(b, "files.bwlimit", "rsync limits in KiB/s: give at least 1KiB (per second)") } else { bwlimit = Int(bytes / 1024) }
        }
        let delete = f["delete"].flatMap { reader.bool($0, "files.delete") } ?? false
        var peers: [FilesConfig.Peer] = []
        if let s = reader.required(f, "sources", what: "where each region's files are pulled from"), let items = reader.sequence(s, "files.sources") {
            for (index, item) in items.enumerated() {
                let path = "files.sources[\(index)]"
                guard let sf = reader.mapping(item, path, keys: ["region", "url"]) else { continue }
                let region = reader.required(sf, "region", what: "a region name").flatMap { reader.string($0, sf.path("region")) }
                let source = reader.required(sf, "url", what: "rsync://host, ssh://user@host or /local/dir").flatMap { n -> FilesConfig.Source? in
                    guard let text = reader.string(n, sf.path("url")) else { return nil }
                    guard let source = parseSource(text) else {
                        reader.error(n, sf.path("url"), "expected rsync://host[:port], ssh://[user@]host[:port] or an absolute directory, found '\(text)'")
                        return nil
                    }
                    return source
                }
                if let region, peers.contains(where: { $0.region == region }) { reader.error(sf["region"], sf.path("region"), "duplicate region '\(region)'") }
                if let region, let source { peers.append(.init(region: region, source: source)) }
            }
        }
        let primary = reader.required(f, "primary_region", what: "the primary region until a monitor says otherwise").flatMap { reader.string($0, "files.primary_region") }
        if let primary, let n = f["primary_region"], primary != ownRegion, !peers.contains(where: { $0.region == primary }) {
            reader.error(n, "files.primary_region", "no entry in files.sources for region '\(primary)': this agent would not know where to pull from")
        }
        let stateFile = f["state_file"].flatMap { reader.string($0, "files.state_file") } ?? "/var/lib/lifeboat/agent-files.json"
        let ssh = f["ssh_command"].flatMap { reader.string($0, "files.ssh_command") }
        guard let primary else { return nil }
        return FilesConfig(paths: paths, interval: interval, timeout: timeout, excludes: excludes, bandwidthLimitKiB: bwlimit,
                           delete: delete, peers: peers, primaryRegion: primary, stateFile: stateFile, sshCommand: ssh)
    }

    static func parseSource(_ text: String) -> FilesConfig.Source? {
        if text.hasPrefix("/") { return .local(text) }
        guard let url = URL(string: text), let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/" else { return nil }
        switch url.scheme {
        case "rsync": return .daemon(host: host, port: url.port)
        case "ssh": return .ssh(user: url.user, host: host, port: url.port)
        default: return nil
        }
    }
}
