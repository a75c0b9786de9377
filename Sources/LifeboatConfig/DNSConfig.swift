import LifeboatCore

/// The `dns:` section: which record moves with the primary, and how.
public struct DNSConfig: Sendable, Equatable {
    public enum Provider: Sendable, Equatable {
        case rfc2136(RFC2136Settings)
        case linode(LinodeSettings)
        case cloudflare(CloudflareSettings)
        case route53(Route53Settings)

        public var name: String {
            switch self {
            case .route53: return "route53"
            case .rfc2136: return "rfc2136"
            case .linode: return "linode"
            case .cloudflare: return "cloudflare"
            }
        }
    }

    /// Amazon Route 53: the hosted zone and an access key allowed to list, change and follow changes.
    public struct Route53Settings: Sendable, Equatable {
        /// The hosted zone's ID (`Z…`, as `aws route53 list-hosted-zones` shows it without `/hostedzone/`).
        public var hostedZoneID: String
        public var accessKeyID: String
        public var secretAccessKey: SecretSource
        public var sessionToken: SecretSource?
        /// `https://route53.amazonaws.com` unless testing against a local stand-in.
        public var apiURL: String
        /// How long to ask GetChange before a change counts as not propagated.
        public var insyncTimeout: Duration

        public init(hostedZoneID: String, accessKeyID: String, secretAccessKey: SecretSource, sessionToken: SecretSource? = nil,
                    apiURL: String = "https://route53.amazonaws.com", insyncTimeout: Duration = .seconds(120)) {
            self.hostedZoneID = hostedZoneID
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
            self.apiURL = apiURL
            self.insyncTimeout = insyncTimeout
        }
    }

    /// Cloudflare DNS: the zone's identifier and an API token allowed Zone → DNS → Edit on it.
    public struct CloudflareSettings: Sendable, Equatable {
        /// The zone's identifier (32 lower-case hex digits, shown on the zone's Overview page).
        public var zoneID: String
        public var token: SecretSource
        /// `https://api.cloudflare.com/client/v4` unless testing against a local stand-in.
        public var apiURL: String

        public init(zoneID: String, token: SecretSource, apiURL: String = "https://api.cloudflare.com/client/v4") {
            self.zoneID = zoneID
            self.token = token
            self.apiURL = apiURL
        }
    }

    public struct RFC2136Settings: Sendable, Equatable {
        /// The primary authoritative server that takes updates, `host:port`.
        public var server: HostPort
        public var keyName: String
        public var keySecret: SecretSource

        public init(server: HostPort, keyName: String, keySecret: SecretSource) {
            self.server = server
            self.keyName = keyName
            self.keySecret = keySecret
        }
    }

    public struct LinodeSettings: Sendable, Equatable {
        public var token: SecretSource
        /// `https://api.linode.com/v4` unless testing against a local stand-in.
        public var apiURL: String

        public init(token: SecretSource, apiURL: String = "https://api.linode.com/v4") {
            self.token = token
            self.apiURL = apiURL
        }
    }

    public var provider: Provider
    /// The zone (Linode: the Domain), without trailing dot.
    public var zone: String
    /// The record's fully-qualified name, without trailing dot.
    public var record: String
    public var ttl: Int
    /// What the record holds when each region is primary.
    public var targets: [String: [IPv4]]
    /// Authoritative servers asked after a switch until they answer the new targets.
    public var verifyServers: [HostPort]
    public var verifyTimeout: Duration

    public init(provider: Provider, zone: String, record: String, ttl: Int, targets: [String: [IPv4]],
                verifyServers: [HostPort], verifyTimeout: Duration = .seconds(10)) {
        self.provider = provider
        self.zone = zone
        self.record = record
        self.ttl = ttl
        self.targets = targets
        self.verifyServers = verifyServers
        self.verifyTimeout = verifyTimeout
    }

    /// Linode DNS Manager's accepted `ttl_sec` values (Linode API v4, DomainRecord.ttl_sec);
    /// anything else is rounded to the nearest of them.
    public static let linodeTTLs = [300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1_209_600, 2_419_200]

    /// The TTL Linode would store for `ttl`.
    public static func linodeRounded(_ ttl: Int) -> Int {
        linodeTTLs.min { abs($0 - ttl) < abs($1 - ttl) } ?? 300
    }

    /// Cloudflare's accepted TTLs: 1 (automatic) or 30...86400 seconds (below 60 only on
    /// Enterprise zones; Cloudflare refuses the change otherwise).
    public static func cloudflareAccepts(_ ttl: Int) -> Bool { ttl == 1 || (30...86400).contains(ttl) }

    /// The record's name relative to the zone (`app`), or empty for the zone apex.
    public var relativeName: String {
        record == zone ? "" : String(record.dropLast(zone.count + 1))
    }
}

/// `host:port` with an IPv4 host (`localhost` allowed).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String, defaultPort: Int) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        guard IPv4(host) != nil else { return nil }
        let port = parts.count == 2 ? Int(parts[1]) : defaultPort
        guard let port, (1...65535).contains(port) else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}
