import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPorts
import LifeboatSandbox
import LifeboatTestSupport
import Synchronization
import Testing

/// The traffic switch against real Knot servers.
@Suite(.serialized) struct DNSTrafficSwitchTests {
    let targets = ["us-east": [IPv4("127.0.0.10")!], "eu-west": [IPv4("127.0.0.20")!, IPv4("127.0.0.21")!]]

    func makeSwitch(_ knot: KnotServer, verifyOn extra: [KnotServer] = [], verifyTimeout: Duration = .seconds(5)) throws -> DNSTrafficSwitch {
        let zone = try DNSName(knot.zone), record = try DNSName("app.\(knot.zone)")
        let client = RFC2136Client(server: DNSServer(host: "127.0.0.1", port: knot.port), zone: zone,
                                   key: try TSIGKey(name: knot.keyName, secretBase64: knot.keySecret))
        let verifiers = ([knot] + extra).map {
            AuthoritativeServer(server: DNSServer(host: "127.0.0.1", port: $0.port), zone: zone, record: record) as any DNSAnswerSource
        }
        return DNSTrafficSwitch(provider: RFC2136Provider(client: client, record: record), targets: targets, ttl: 30,
                                verifiers: verifiers, verifyTimeout: verifyTimeout)
    }

    @Test func switchesVerifiesAndReportsTheOldTTL() async throws {
        let knot = try KnotServer()
        defer { knot.stop() }
        try await knot.waitUntilServing()
        let traffic = try makeSwitch(knot)
        let notes = Mutex<[String]>([])
        let result = try await traffic.switchTraffic(toRegion: "eu-west", fromRegion: "us-east", node: "pg-eu-west", epoch: Epoch(1),
                                                     timeout: .seconds(10), progress: { note in notes.withLock { $0.append(note) } })
        let detail = result.detail
        #expect(result.changed)
        let seen = notes.withLock { $0 }
        #expect(seen.count == 2)
        #expect(seen[0] == "DNS switched: app.lifeboat.test. from 127.0.0.10 to 127.0.0.20, 127.0.0.21, TTL 30s")
        #expect(seen[1].hasPrefix("DNS verified: 1 authoritative server answers the new targets after"))
        #expect(detail.hasSuffix("resolvers may keep the old answer for up to 60s (its TTL)"))
        #expect(try knot.kdig("app.lifeboat.test", "A").split(separator: "\n").sorted() == ["127.0.0.20", "127.0.0.21"])

        // Again: nothing to do (a resumed failover must not fail here).
        let again = try await traffic.point(to: "eu-west", from: "us-east", dryRun: false)
        #expect(!again.changed)
        #expect(again.summary == "app.lifeboat.test. already points at 127.0.0.20, 127.0.0.21")
    }

    @Test func refusesWhenSomeoneElseMovedTheRecord() async throws {
        let knot = try KnotServer()
        defer { knot.stop() }
        try await knot.waitUntilServing()
        let traffic = try makeSwitch(knot)
        // An operator points the record elsewhere by hand.
        let client = RFC2136Client(server: DNSServer(host: "127.0.0.1", port: knot.port), zone: try DNSName(knot.zone),
                                   key: try TSIGKey(name: knot.keyName, secretBase64: knot.keySecret))
        try await client.replaceA(try DNSName("app.lifeboat.test"), expected: [IPv4("127.0.0.10")!], new: [IPv4("127.0.0.99")!], ttl: 60)

        await #expect(throws: DNSSwitchError.unexpectedTargets(record: "app.lifeboat.test.", found: ["127.0.0.99"], expected: ["127.0.0.10"])) {
            try await traffic.switchTraffic(toRegion: "eu-west", fromRegion: "us-east", node: "pg-eu-west", epoch: Epoch(1),
                                            timeout: .seconds(10), progress: { _ in })
        }
        #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.99")
        // The operator's command refuses a record holding none of any region's targets (it may
        // not be Lifeboat's record) unless forced; a forced dry run shows the change without making it.
        await #expect(throws: DNSSwitchError.foreignTargets(record: "app.lifeboat.test.", found: ["127.0.0.99"],
                                                            configured: ["us-east": ["127.0.0.10"], "eu-west": ["127.0.0.20", "127.0.0.21"]])) {
            try await traffic.point(to: "eu-west", from: nil, dryRun: false)
        }
        #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.99")
        #expect(DNSSwitchError.foreignTargets(record: "app.", found: ["1.2.3.4"], configured: ["a": ["10.0.0.1"]]).description
            .contains("holds 1.2.3.4, which is no configured region's target (a: 10.0.0.1)"))
        let plan = try await traffic.point(to: "eu-west", from: nil, dryRun: true, force: true)
        #expect(plan.summary == "would point app.lifeboat.test. from 127.0.0.99 to 127.0.0.20, 127.0.0.21 with TTL 30s")
        #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.99")
        let forced = try await traffic.point(to: "eu-west", from: nil, dryRun: false, force: true)
        #expect(forced.changed)
        #expect(try knot.kdig("app.lifeboat.test", "A").split(separator: "\n").sorted() == ["127.0.0.20", "127.0.0.21"])
        // Partly ours (one region's address among others): an operator's point goes ahead.
        try await client.replaceA(try DNSName("app.lifeboat.test"), expected: [IPv4("127.0.0.20")!, IPv4("127.0.0.21")!],
                                  new: [IPv4("127.0.0.10")!, IPv4("127.0.0.98")!], ttl: 60)
        #expect(try await traffic.point(to: "us-east", from: nil, dryRun: false).changed)
    }

    @Test func aServerThatKeepsTheOldAnswerFailsVerification() async throws {
        let knot = try KnotServer()
        let stale = try KnotServer()
        defer { knot.stop(); stale.stop() }
        try await knot.waitUntilServing()
        try await stale.waitUntilServing()
        let traffic = try makeSwitch(knot, verifyOn: [stale], verifyTimeout: .milliseconds(500))
        await #expect(throws: DNSSwitchError.notVerified(record: "app.lifeboat.test.", servers: ["127.0.0.1:\(stale.port)"], after: .milliseconds(500))) {
            try await traffic.switchTraffic(toRegion: "eu-west", fromRegion: "us-east", node: "pg-eu-west", epoch: Epoch(1),
                                            timeout: .seconds(10), progress: { _ in })
        }
    }

    @Test func theFactoryBuildsFromConfigAndNeedsTheSecret() throws {
        let dns = DNSConfig(
            provider: .rfc2136(.init(server: HostPort(host: "127.0.0.1", port: 53), keyName: "k", keySecret: .environment("LIFEBOAT_TEST_TSIG"))),
            zone: "lifeboat.test", record: "app.lifeboat.test", ttl: 30, targets: targets, verifyServers: [], verifyTimeout: .seconds(1)
        )
        #expect(throws: SecretError.self) { try TrafficSwitchFactory.make(dns, environment: [:]) }
        let built = try TrafficSwitchFactory.make(dns, environment: ["LIFEBOAT_TEST_TSIG": "c2VjcmV0"])
        #expect(built.provider.record == "app.lifeboat.test.")
        #expect(built.ttl == 30)
    }
}
