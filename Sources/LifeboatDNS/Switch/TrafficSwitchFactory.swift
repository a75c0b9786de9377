import LifeboatConfig
import LifeboatCore
import LifeboatPorts

/// Builds the traffic switch a config's `dns:` section describes, resolving its secrets now.
public enum TrafficSwitchFactory {
    public static func make(_ dns: DNSConfig, environment: [String: String]? = nil, members: RegionMembers? = nil) throws -> DNSTrafficSwitch {
        let zone = try DNSName(dns.zone)
        let record = try DNSName(dns.record)
        let provider: any DNSProvider
        switch dns.provider {
        case .rfc2136(let settings):
            let secret = try environment.map { try settings.keySecret.resolve(environment: $0) } ?? settings.keySecret.resolve()
            let key = try TSIGKey(name: settings.keyName, secretBase64: secret.reveal())
            let client = RFC2136Client(server: DNSServer(host: settings.server.host, port: settings.server.port), zone: zone, key: key)
            provider = RFC2136Provider(client: client, record: record)
        case .linode(let settings):
            let token = try environment.map { try settings.token.resolve(environment: $0) } ?? settings.token.resolve()
            let client = LinodeDomainsClient(baseURL: settings.apiURL, token: token)
            provider = LinodeProvider(client: client, zone: dns.zone, relativeName: dns.relativeName)
        case .cloudflare(let settings):
            let token = try environment.map { try settings.token.resolve(environment: $0) } ?? settings.token.resolve()
            provider = CloudflareProvider(client: CloudflareDNSClient(baseURL: settings.apiURL, zoneID: settings.zoneID, token: token), record: dns.record)
        case .route53(let settings):
            func resolve(_ source: SecretSource) throws -> Secret {
                try environment.map { try source.resolve(environment: $0) } ?? source.resolve()
            }
            let client = Route53Client(baseURL: settings.apiURL, hostedZoneID: settings.hostedZoneID, accessKeyID: settings.accessKeyID,
                                       secretAccessKey: try resolve(settings.secretAccessKey), sessionToken: try settings.sessionToken.map(resolve))
            provider = Route53Provider(client: client, record: dns.record, insyncTimeout: settings.insyncTimeout)
        }
        let verifiers = dns.verifyServers.map {
            AuthoritativeServer(server: DNSServer(host: $0.host, port: $0.port), zone: zone, record: record) as any DNSAnswerSource
        }
        return DNSTrafficSwitch(provider: provider, targets: dns.targets, ttl: dns.ttl, verifiers: verifiers, verifyTimeout: dns.verifyTimeout, members: members)
    }
}

extension TrafficSwitchFactory {
    /// The switch a `nodebalancer:` section describes, its token resolved now.
    public static func make(_ nb: NodeBalancerConfig, environment: [String: String]? = nil) throws -> LinodeNodeBalancerSwitch {
        let token = try environment.map { try nb.linode.token.resolve(environment: $0) } ?? nb.linode.token.resolve()
        return LinodeNodeBalancerSwitch(baseURL: nb.linode.apiURL, token: token, nodeBalancerID: nb.id, configID: nb.configID,
                                        nodes: nb.nodes, standbyMode: nb.standbyMode == .drain ? .drain : .reject)
    }

    /// Everything that moves traffic in `config`: the DNS record, then the NodeBalancer (either may
    /// be absent; neither: clients find the primary themselves).
    public static func make(_ config: LifeboatConfiguration, environment: [String: String]? = nil, members: RegionMembers? = nil) throws -> any TrafficSwitch {
        try make(config, dns: try config.dns.map { try make($0, environment: environment, members: members) }, environment: environment)
    }

    /// The same, with the DNS switch already built (the monitor shares it with its application-tier watcher).
    public static func make(_ config: LifeboatConfiguration, dns: DNSTrafficSwitch?, environment: [String: String]? = nil) throws -> any TrafficSwitch {
        var switches: [any TrafficSwitch] = []
        if let dns { switches.append(dns) }
        if let nb = config.nodeBalancer { switches.append(try make(nb, environment: environment)) }
        switch switches.count {
        case 0: return NoTrafficSwitch()
        case 1: return switches[0]
        default: return TrafficSwitches(switches)
        }
    }
}

public struct DNSSwitchConfigError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
