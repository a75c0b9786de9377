import LifeboatConfig
import LifeboatCore
import Testing

private let base = """
regions:
  - name: us-east
  - name: eu-west
database:
  nodes:
    - name: pg-a
      region: us-east
      host: 127.0.0.1
    - name: pg-b
      region: eu-west
      host: 127.0.0.2

"""

private func parse(_ dns: String, env: [String: String] = ["TSIG": "c2VjcmV0", "LINODE_TOKEN": "t"]) -> (LifeboatConfiguration?, [Diagnostic]) {
    ConfigParser.parse(yaml: base + dns, file: "dns.yml", environment: env)
}

@Suite struct DNSConfigTests {
    @Test func rfc2136SectionParses() throws {
        let (config, diagnostics) = parse("""
            dns:
              provider: rfc2136
              zone: example.com.
              record: app
              ttl: 30
              targets:
                us-east: 192.0.2.10
                eu-west: [198.51.100.21, 198.51.100.20]
              rfc2136:
                server: 192.0.2.53:5353
                key_name: lifeboat
                key_secret_env: TSIG
            """)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let dns = try #require(config?.dns)
        #expect(dns.zone == "example.com")
        #expect(dns.record == "app.example.com")
        #expect(dns.relativeName == "app")
        #expect(dns.ttl == 30)
        #expect(dns.targets["eu-west"] == [IPv4("198.51.100.20")!, IPv4("198.51.100.21")!])
        #expect(dns.provider == .rfc2136(.init(server: HostPort(host: "192.0.2.53", port: 5353), keyName: "lifeboat", keySecret: .environment("TSIG"))))
        #expect(dns.verifyServers == [HostPort(host: "192.0.2.53", port: 5353)], "the update server is verified by default")
        #expect(config?.summary.hasSuffix("traffic: app.example.com via rfc2136, TTL 30s") == true)
    }

    @Test func aTTLLinodeWouldRoundIsAnErrorThatSaysWhatItWouldBecome() {
        let (config, diagnostics) = parse("""
            dns:
              provider: linode
              zone: example.com
              record: app
              ttl: 60
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              linode:
                token_env: LINODE_TOKEN
            """)
        #expect(config == nil)
        #expect(diagnostics.map(\.description) == [
            "dns.yml:16:8: error: dns.ttl: Linode accepts TTLs of 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200 seconds; 60 would silently become 300. Write ttl: 300",
        ])
    }

    @Test func targetsMustCoverEveryRegionWithAddresses() {
        let (_, diagnostics) = parse("""
            dns:
              provider: rfc2136
              zone: example.com
              record: app.example.com
              targets:
                us-east: 192.0.2.300
                eu-wset: 198.51.100.21
              rfc2136: {server: 192.0.2.53, key_name: k, key_secret_env: TSIG}
            """)
        #expect(diagnostics.map(\.message) == [
            "missing: the address the record should hold when eu-west is primary",
            "expected an IPv4 address such as 192.0.2.10, found '192.0.2.300'",
            "unknown key 'eu-wset'; did you mean 'eu-west'?",
        ])
    }

    @Test func providerSettingsAreRequired() {
        let (_, diagnostics) = parse("""
            dns:
              provider: route66
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
            """)
        #expect(diagnostics.map(\.message) == ["expected rfc2136, linode, cloudflare or route53, found 'route66'; did you mean 'route53'?"])
        let (_, missing) = parse("""
            dns:
              provider: linode
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              linode: {}
            """)
        #expect(missing.map(\.message) == ["missing: give token_env or token_file (a Linode personal access token with the domains:read_write scope)"])
    }

    @Test func anInlineTokenWarnsAndIsRedacted() throws {
        let (config, diagnostics) = parse("""
            dns:
              provider: linode
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              linode: {token: abc123secret}
            """)
        #expect(diagnostics.map(\.message) == ["inline Linode API token: anyone who can read this file can read it; use token_env or token_file"])
        let dns = try #require(config?.dns)
        #expect(!"\(dns)".contains("abc123secret"))
        #expect(dns.ttl == 300, "Linode's shortest accepted TTL is the default")
    }

    @Test func cloudflareSectionParsesAndItsMistakesAreNamed() throws {
        let (config, diagnostics) = parse("""
            dns:
              provider: cloudflare
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              cloudflare:
                zone_id: 023e105f4ecef8ad9ca31a8372d0c353
                token_env: CF_TOKEN
            """, env: ["CF_TOKEN": "cf-secret"])
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let dns = try #require(config?.dns)
        #expect(dns.provider == .cloudflare(.init(zoneID: "023e105f4ecef8ad9ca31a8372d0c353", token: .environment("CF_TOKEN"))))
        #expect(dns.ttl == 60, "Cloudflare's shortest TTL outside Enterprise is the default")
        #expect(config?.summary.hasSuffix("traffic: app.example.com via cloudflare, TTL 60s") == true)

        let (_, wrong) = parse("""
            dns:
              provider: cloudflare
              zone: example.com
              record: app
              ttl: 20
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              cloudflare:
                zone_id: example.com
                api_url: http://api.cloudflare.com/client/v4
                token_env: CF_TOKEN
              linode: {token_env: LINODE_TOKEN}
            """, env: ["CF_TOKEN": "cf-secret", "LINODE_TOKEN": "t"])
        #expect(wrong.map(\.description) == [
            "dns.yml:16:8: error: dns.ttl: Cloudflare accepts a TTL of 1 (automatic) or 60 to 86400 seconds (30 on Enterprise zones), found 20",
            "dns.yml:19:14: error: dns.cloudflare.zone_id: expected the zone's identifier, 32 lower-case hex digits such as 023e105f4ecef8ad9ca31a8372d0c353, found 'example.com'",
            "dns.yml:20:14: error: dns.cloudflare.api_url: plain http would send the token in clear to api.cloudflare.com; use https:// (http is accepted only for a loopback address such as 127.0.0.1)",
            "dns.yml:22:3: error: dns.linode: provider is cloudflare; remove the linode section or change the provider",
        ])
        let (_, missing) = parse("""
            dns:
              provider: cloudflare
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              cloudflare: {zone_id: 023e105f4ecef8ad9ca31a8372d0c353, zone: x}
            """)
        #expect(missing.map(\.message).contains("missing: give token_env or token_file (a Cloudflare API token with Zone → DNS → Edit on this zone)"))
        #expect(missing.map(\.message).contains { $0.hasPrefix("unknown key 'zone'") })
    }

    @Test func route53SectionParsesAndItsMistakesAreNamed() throws {
        let (config, diagnostics) = parse("""
            dns:
              provider: route53
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              route53:
                hosted_zone_id: /hostedzone/Z1D633PJN98FT9
                access_key_id: AKIAIOSFODNN7EXAMPLE
                secret_access_key_env: AWS_SECRET
                insync_timeout: 90s
            """, env: ["AWS_SECRET": "s"])
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(config?.dns?.provider == .route53(.init(hostedZoneID: "Z1D633PJN98FT9", accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                        secretAccessKey: .environment("AWS_SECRET"), insyncTimeout: .seconds(90))))
        #expect(config?.dns?.ttl == 60)

        let (_, wrong) = parse("""
            dns:
              provider: route53
              zone: example.com
              record: app
              targets: {us-east: 192.0.2.10, eu-west: 198.51.100.21}
              route53:
                hosted_zone_id: example.com
                access_key_id: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
                region: eu-west-1
            """)
        #expect(wrong.map(\.message) == [
            "missing: give secret_access_key_env or secret_access_key_file (the secret of access_key_id)",
            "expected a hosted zone ID such as Z1D633PJN98FT9 (capital letters and digits), found 'example.com'",
            "expected an access key ID such as AKIAIOSFODNN7EXAMPLE (16 or more capital letters and digits); the value is not shown in case it is the secret key",
            "unknown key 'region'",
        ])
        #expect(!wrong.map(\.description).joined().contains("wJalrXUtnFEMI"))
    }

    @Test func linodeRounding() {
        #expect(DNSConfig.linodeRounded(30) == 300)
        #expect(DNSConfig.linodeRounded(2000) == 3600)
        #expect(DNSConfig.linodeRounded(3600) == 3600)
    }
}
