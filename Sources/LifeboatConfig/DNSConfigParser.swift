import Foundation
import LifeboatCore
import Yams

extension ConfigParser {
    static let dnsKeys = ["provider", "zone", "record", "ttl", "targets", "verify", "rfc2136", "linode", "cloudflare", "route53"]
    static let verifyKeys = ["servers", "timeout"]
    static let rfc2136Keys = ["server", "key_name", "key_secret_env", "key_secret_file", "key_secret"]
    static let linodeKeys = ["token_env", "token_file", "token", "api_url"]
    static let cloudflareKeys = ["zone_id", "token_env", "token_file", "token", "api_url"]
    static let route53Keys = ["hosted_zone_id", "access_key_id", "secret_access_key_env", "secret_access_key_file", "secret_access_key",
                              "session_token_env", "session_token_file", "api_url", "insync_timeout"]

    static func parseDNS(_ node: Node, regions: [ParsedRegion], reader: ConfigReader, environment: [String: String]) -> DNSConfig? {
        guard let f = reader.mapping(node, "dns", keys: dnsKeys) else { return nil }
        let providers = ["rfc2136", "linode", "cloudflare", "route53"]
        let providerName = reader.required(f, "provider", what: "rfc2136, linode, cloudflare or route53").flatMap { n -> String? in
            guard let text = reader.string(n, "dns.provider") else { return nil }
            guard providers.contains(text) else {
                reader.error(n, "dns.provider", "expected rfc2136, linode, cloudflare or route53, found '\(text)'\(Suggestions.hint(for: text, in: providers))")
                return nil
            }
            return text
        }
        var zone = reader.required(f, "zone", what: "the DNS zone (Linode: the Domain), e.g. example.com").flatMap { reader.string($0, "dns.zone") }
        if let z = zone, z.hasSuffix(".") { zone = String(z.dropLast()) }
        if let z = zone, let n = f["zone"], !isHostname(z) {
            reader.error(n, "dns.zone", "'\(z)' is not a valid DNS name")
            zone = nil
        }
        var record: String?
        if let n = reader.required(f, "record", what: "the record to move, e.g. app (relative to the zone) or app.example.com"),
           let text = reader.string(n, "dns.record"), let zone {
            var name = text.hasSuffix(".") ? String(text.dropLast()) : text
            if !(name == zone || name.hasSuffix("." + zone)) { name = text == "@" ? zone : "\(name).\(zone)" }
            if isHostname(name) { record = name } else { reader.error(n, "dns.record", "'\(text)' is not a valid DNS name") }
        }

        let ttlNode = f["ttl"]
        var ttl = ttlNode.flatMap { reader.int($0, "dns.ttl", min: 0, max: 2_147_483_647) } ?? (providerName == "linode" ? 300 : providerName == "cloudflare" || providerName == "route53" ? 60 : 30)
        if providerName == "linode", let ttlNode, !DNSConfig.linodeTTLs.contains(ttl) {
            let rounded = DNSConfig.linodeRounded(ttl)
            reader.error(ttlNode, "dns.ttl", "Linode accepts TTLs of \(DNSConfig.linodeTTLs.map(String.init).joined(separator: ", ")) seconds; \(ttl) would silently become \(rounded). Write ttl: \(rounded)")
            ttl = rounded
        }
        if providerName == "cloudflare", let ttlNode, !DNSConfig.cloudflareAccepts(ttl) {
            reader.error(ttlNode, "dns.ttl", "Cloudflare accepts a TTL of 1 (automatic) or 60 to 86400 seconds (30 on Enterprise zones), found \(ttl)")
        }

        var targets: [String: [IPv4]] = [:]
        if let n = reader.required(f, "targets", what: "the address(es) the record holds when each region is primary"),
           let tf = reader.mapping(n, "dns.targets", keys: regions.map(\.region.name)) {
            for region in regions {
                guard let value = tf[region.region.name] else {
                    reader.error(n, "dns.targets.\(region.region.name)", "missing: the address the record should hold when \(region.region.name) is primary")
                    continue
                }
                let path = "dns.targets.\(region.region.name)"
                let items: [Node] = if case .sequence(let seq) = value { Array(seq) } else { [value] }
                var addresses: [IPv4] = []
                for item in items {
                    guard let text = reader.string(item, path) else { continue }
                    guard let ip = IPv4(text) else {
                        reader.error(item, path, "expected an IPv4 address such as 192.0.2.10, found '\(text)'")
                        continue
                    }
                    addresses.append(ip)
                }
                if !addresses.isEmpty { targets[region.region.name] = addresses.sorted() }
            }
        }

        var provider: DNSConfig.Provider?
        switch providerName {
        case "rfc2136":
            provider = parseRFC2136(f, reader: reader, environment: environment).map { .rfc2136($0) }
        case "linode":
            provider = parseLinode(f, section: "dns", scope: "domains:read_write", reader: reader, environment: environment).map { .linode($0) }
        case "cloudflare":
            provider = parseCloudflare(f, reader: reader, environment: environment).map { .cloudflare($0) }
        case "route53":
            provider = parseRoute53(f, reader: reader, environment: environment).map { .route53($0) }
        default:
            break
        }
        for other in ["rfc2136", "linode", "cloudflare", "route53"] where other != providerName && providerName != nil && f[other] != nil {
            reader.error(f.entries[other]?.key, "dns.\(other)", "provider is \(providerName ?? ""); remove the \(other) section or change the provider")
        }

        var verifyServers: [HostPort] = []
        var verifyTimeout = Duration.seconds(10)
        if let v = f["verify"], let vf = reader.mapping(v, "dns.verify", keys: verifyKeys) {
            if let s = vf["servers"], let items = reader.sequence(s, "dns.verify.servers") {
                for (i, item) in items.enumerated() {
                    guard let text = reader.string(item, "dns.verify.servers[\(i)]") else { continue }
                    guard let server = HostPort(parsing: text, defaultPort: 53) else {
                        reader.error(item, "dns.verify.servers[\(i)]", "expected an IPv4 address with an optional port, such as 192.0.2.53 or 192.0.2.53:5353, found '\(text)'")
                        continue
                    }
                    verifyServers.append(server)
                }
            }
            if let t = vf["timeout"], let d = reader.duration(t, "dns.verify.timeout", atLeast: .milliseconds(100)) { verifyTimeout = d }
        } else if case .rfc2136(let settings)? = provider {
            verifyServers = [settings.server]
        }

        guard let provider, let zone, let record else { return nil }
        return DNSConfig(provider: provider, zone: zone, record: record, ttl: ttl, targets: targets,
                         verifyServers: verifyServers, verifyTimeout: verifyTimeout)
    }

    private static func parseRFC2136(_ f: Fields, reader: ConfigReader, environment: [String: String]) -> DNSConfig.RFC2136Settings? {
        guard let n = reader.required(f, "rfc2136", what: "server, key_name and key_secret_env or key_secret_file"),
              let rf = reader.mapping(n, "dns.rfc2136", keys: rfc2136Keys) else { return nil }
        let server = reader.required(rf, "server", what: "the primary server taking updates, e.g. 192.0.2.53:53").flatMap { s -> HostPort? in
            guard let text = reader.string(s, "dns.rfc2136.server") else { return nil }
            guard let hp = HostPort(parsing: text, defaultPort: 53) else {
                reader.error(s, "dns.rfc2136.server", "expected an IPv4 address with an optional port, such as 192.0.2.53:53, found '\(text)'")
                return nil
            }
            return hp
        }
        let keyName = reader.required(rf, "key_name", what: "the TSIG key's name as the server knows it").flatMap { reader.string($0, "dns.rfc2136.key_name") }
        let secret = parseSecret(rf, env: "key_secret_env", file: "key_secret_file", inline: "key_secret", what: "TSIG secret", reader: reader,
                                 environment: environment, check: { value in
                                     let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
                                     guard let bytes = Data(base64Encoded: trimmed), !bytes.isEmpty else { return "is not base64 (tsig-keygen prints it so)" }
                                     return nil
                                 })
        if secret == nil, rf["key_secret_env"] == nil, rf["key_secret_file"] == nil, rf["key_secret"] == nil {
            reader.error(n, "dns.rfc2136.key_secret_env", "missing: give key_secret_env or key_secret_file (the TSIG secret, base64)")
        }
        guard let server, let keyName, let secret else { return nil }
        return DNSConfig.RFC2136Settings(server: server, keyName: keyName, keySecret: secret)
    }

    /// The `route53:` mapping: hosted zone, access key (the secret from env, file or inline, an
    /// optional session token), `api_url` and `insync_timeout`.
    private static func parseRoute53(_ f: Fields, reader: ConfigReader, environment: [String: String]) -> DNSConfig.Route53Settings? {
        guard let n = reader.required(f, "route53", what: "hosted_zone_id, access_key_id and secret_access_key_env or secret_access_key_file"),
              let rf = reader.mapping(n, "dns.route53", keys: route53Keys) else { return nil }
        let zone = reader.required(rf, "hosted_zone_id", what: "the hosted zone's ID, e.g. Z1D633PJN98FT9 (aws route53 list-hosted-zones)")
            .flatMap { z -> String? in
                guard var text = reader.string(z, "dns.route53.hosted_zone_id") else { return nil }
                if text.hasPrefix("/hostedzone/") { text = String(text.dropFirst("/hostedzone/".count)) }
                guard (1...32).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) }) else {
                    reader.error(z, "dns.route53.hosted_zone_id", "expected a hosted zone ID such as Z1D633PJN98FT9 (capital letters and digits), found '\(LogSafe.escape(text, maxLength: 80))'")
                    return nil
                }
                return text
            }
        let keyID = reader.required(rf, "access_key_id", what: "the IAM access key ID, e.g. AKIAIOSFODNN7EXAMPLE").flatMap { k -> String? in
            guard let text = reader.string(k, "dns.route53.access_key_id") else { return nil }
            guard (16...128).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) }) else {
                reader.error(k, "dns.route53.access_key_id", "expected an access key ID such as AKIAIOSFODNN7EXAMPLE (16 or more capital letters and digits); the value is not shown in case it is the secret key")
                return nil
            }
            return text
        }
        let secret = parseSecret(rf, env: "secret_access_key_env", file: "secret_access_key_file", inline: "secret_access_key",
                                 what: "AWS secret access key", reader: reader, environment: environment)
        if secret == nil, rf["secret_access_key_env"] == nil, rf["secret_access_key_file"] == nil, rf["secret_access_key"] == nil {
            reader.error(n, "dns.route53.secret_access_key_env", "missing: give secret_access_key_env or secret_access_key_file (the secret of access_key_id)")
        }
        var token: SecretSource?
        if rf["session_token_env"] != nil || rf["session_token_file"] != nil {
            token = parseSecret(rf, env: "session_token_env", file: "session_token_file", inline: "session_token", what: "AWS session token",
                                reader: reader, environment: environment)
        }
        var apiURL = "https://route53.amazonaws.com"
        if let u = rf["api_url"], let text = reader.string(u, "dns.route53.api_url") {
            switch checkAPIURL(text, example: "https://route53.amazonaws.com") {
            case .success(let url): apiURL = url
            case .failure(let problem): reader.error(u, "dns.route53.api_url", problem.message)
            }
        }
        var insync = Duration.seconds(120)
        if let t = rf["insync_timeout"], let d = reader.duration(t, "dns.route53.insync_timeout", atLeast: .seconds(1)) { insync = d }
        guard let zone, let keyID, let secret else { return nil }
        return DNSConfig.Route53Settings(hostedZoneID: zone, accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, apiURL: apiURL, insyncTimeout: insync)
    }

    /// The `cloudflare:` mapping: the zone's identifier, the API token (env, file or inline) and `api_url`.
    private static func parseCloudflare(_ f: Fields, reader: ConfigReader, environment: [String: String]) -> DNSConfig.CloudflareSettings? {
        guard let n = reader.required(f, "cloudflare", what: "zone_id and token_env or token_file"),
              let cf = reader.mapping(n, "dns.cloudflare", keys: cloudflareKeys) else { return nil }
        let zoneID = reader.required(cf, "zone_id", what: "the zone's identifier (32 hex digits, on the zone's Overview page in the dashboard)")
            .flatMap { z -> String? in
                guard let text = reader.string(z, "dns.cloudflare.zone_id") else { return nil }
                guard text.utf8.count == 32, text.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                    reader.error(z, "dns.cloudflare.zone_id", "expected the zone's identifier, 32 lower-case hex digits such as 023e105f4ecef8ad9ca31a8372d0c353, found '\(LogSafe.escape(text, maxLength: 80))'")
                    return nil
                }
                return text
            }
        let token = parseSecret(cf, env: "token_env", file: "token_file", inline: "token", what: "Cloudflare API token", reader: reader, environment: environment)
        if token == nil, cf["token_env"] == nil, cf["token_file"] == nil, cf["token"] == nil {
            reader.error(n, "dns.cloudflare.token_env", "missing: give token_env or token_file (a Cloudflare API token with Zone → DNS → Edit on this zone)")
        }
        var apiURL = "https://api.cloudflare.com/client/v4"
        if let u = cf["api_url"], let text = reader.string(u, "dns.cloudflare.api_url") {
            switch checkAPIURL(text, example: "https://api.cloudflare.com/client/v4") {
            case .success(let url): apiURL = url
            case .failure(let problem): reader.error(u, "dns.cloudflare.api_url", problem.message)
            }
        }
        guard let zoneID, let token else { return nil }
        return DNSConfig.CloudflareSettings(zoneID: zoneID, token: token, apiURL: apiURL)
    }

    /// A `linode:` mapping under `section` (dns, fencing, nodebalancer): the token (env, file or
    /// inline) with the scope it needs named in the error, and `api_url`.
    static func parseLinode(_ f: Fields, section: String, scope: String, reader: ConfigReader, environment: [String: String]) -> DNSConfig.LinodeSettings? {
        guard let n = reader.required(f, "linode", what: "token_env or token_file"),
              let lf = reader.mapping(n, "\(section).linode", keys: linodeKeys) else { return nil }
        let token = parseSecret(lf, env: "token_env", file: "token_file", inline: "token", what: "Linode API token", reader: reader, environment: environment)
        if token == nil, lf["token_env"] == nil, lf["token_file"] == nil, lf["token"] == nil {
            reader.error(n, "\(section).linode.token_env", "missing: give token_env or token_file (a Linode personal access token with the \(scope) scope)")
        }
        var apiURL = "https://api.linode.com/v4"
        if let u = lf["api_url"], let text = reader.string(u, "\(section).linode.api_url") {
            switch checkAPIURL(text) {
            case .success(let url): apiURL = url
            case .failure(let problem): reader.error(u, "\(section).linode.api_url", problem.message)
            }
        }
        guard let token else { return nil }
        return DNSConfig.LinodeSettings(token: token, apiURL: apiURL)
    }

    struct URLProblem: Error { var message: String }

    /// Linode's API URL: https to any host; plain http only to a loopback address (a local
    /// stand-in), since the token travels in the Authorization header. The host is the URL's
    /// parsed host, not a prefix of the text (`http://localhost.attacker.example` is not local).
    static func checkAPIURL(_ text: String, example: String = "https://api.linode.com/v4") -> Result<String, URLProblem> {
        let shown = LogSafe.escape(text, maxLength: 120)
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            return .failure(URLProblem(message: "expected a URL such as \(example), found '\(shown)'"))
        }
        guard url.user == nil, url.password == nil else {
            return .failure(URLProblem(message: "must not carry a user or password (the token goes in token_env or token_file); the value is not shown"))
        }
        guard url.query == nil, url.fragment == nil else {
            return .failure(URLProblem(message: "expected a base URL without ?query or #fragment, found '\(shown)'"))
        }
        switch scheme {
        case "https":
            break
        case "http":
            guard isLoopback(host) else {
                return .failure(URLProblem(message: "plain http would send the token in clear to \(LogSafe.escape(host, maxLength: 80)); use https:// (http is accepted only for a loopback address such as 127.0.0.1)"))
            }
        default:
            return .failure(URLProblem(message: "expected an https:// URL (plain http only to a loopback address), found '\(shown)'"))
        }
        return .success(text.hasSuffix("/") ? String(text.dropLast()) : text)
    }

    /// 127.0.0.0/8, ::1 or the name localhost itself.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        guard let ip = IPv4(bare) else { return false }
        return ip.bytes[0] == 127
    }

    static func isHostname(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && name.utf8.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "*" }
        }
    }
}
