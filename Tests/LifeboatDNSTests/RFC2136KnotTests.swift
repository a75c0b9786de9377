import Foundation
import LifeboatCore
import LifeboatDNS
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// Against a real Knot DNS server started by each test on a loopback port.
@Suite(.serialized) struct RFC2136KnotTests {
    func withKnot(records: [String] = ["app 60 IN A 127.0.0.10"], _ body: (KnotServer, RFC2136Client) async throws -> Void) async throws {
        let knot = try KnotServer(records: records)
        defer { knot.stop() }
        try await knot.waitUntilServing()
        let client = RFC2136Client(
            server: DNSServer(host: "127.0.0.1", port: knot.port), zone: try DNSName(knot.zone),
            key: try TSIGKey(name: knot.keyName, secretBase64: knot.keySecret)
        )
        try await body(knot, client)
    }

    @Test func replacesTheRecordAtomicallyAndBumpsTheSerial() async throws {
        try await withKnot { knot, client in
            let app = try DNSName("app.lifeboat.test")
            #expect(try await client.serial() == 1)
            let before = try await client.addresses(of: app)
            #expect(before.addresses == [IPv4("127.0.0.10")!])
            #expect(before.ttl == 60)

            try await client.replaceA(app, expected: [IPv4("127.0.0.10")!], new: [IPv4("127.0.0.20")!], ttl: 30)

            #expect(try await client.serial() == 2)
            let after = try await client.addresses(of: app)
            #expect(after.addresses == [IPv4("127.0.0.20")!])
            #expect(after.ttl == 30)
            // Knot's own client sees the same.
            #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.20")
        }
    }

    @Test func compareAndSwapRefusesAStaleUpdate() async throws {
        try await withKnot { knot, client in
            let app = try DNSName("app.lifeboat.test")
            await #expect(throws: DNSUpdateError.recordChanged(name: "app.lifeboat.test.", expected: ["127.0.0.99"])) {
                try await client.replaceA(app, expected: [IPv4("127.0.0.99")!], new: [IPv4("127.0.0.20")!], ttl: 30)
            }
            #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.10")
            #expect(try await client.serial() == 1)
        }
    }

    @Test func aWrongSecretIsRejectedAsBadSignature() async throws {
        try await withKnot { knot, client in
            var wrong = client
            wrong.key = try TSIGKey(name: knot.keyName, secretBase64: Data(repeating: 7, count: 32).base64EncodedString())
            let error = await #expect(throws: DNSUpdateError.self) {
                try await wrong.replaceA(try DNSName("app.lifeboat.test"), expected: [IPv4("127.0.0.10")!], new: [IPv4("127.0.0.20")!], ttl: 30)
            }
            #expect(error == .tsig(.rejectedByServer(.badSig)), "\(String(describing: error))")
            #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.10")
        }
    }

    @Test func anUnknownKeyIsBadKey() async throws {
        try await withKnot { knot, client in
            var unknown = client
            unknown.key = try TSIGKey(name: "nobody", secretBase64: knot.keySecret)
            let error = await #expect(throws: DNSUpdateError.self) {
                try await unknown.replaceA(try DNSName("app.lifeboat.test"), expected: [IPv4("127.0.0.10")!], new: [IPv4("127.0.0.20")!], ttl: 30)
            }
            #expect(error == .tsig(.rejectedByServer(.badKey)), "\(String(describing: error))")
        }
    }

    @Test func aSkewedClockIsBadTime() async throws {
        try await withKnot { knot, client in
            var skewed = client
            skewed.now = { UInt64(Date().timeIntervalSince1970) + 3600 }
            let error = await #expect(throws: DNSUpdateError.self) {
                try await skewed.replaceA(try DNSName("app.lifeboat.test"), expected: [IPv4("127.0.0.10")!], new: [IPv4("127.0.0.20")!], ttl: 30)
            }
            #expect(error == .tsig(.rejectedByServer(.badTime)), "\(String(describing: error))")
        }
    }

    @Test func aKeyWithoutUpdateRightsIsRefused() async throws {
        try await withKnot { knot, client in
            var readOnly = client
            readOnly.key = try TSIGKey(name: knot.readOnlyKeyName, secretBase64: knot.readOnlyKeySecret)
            let error = await #expect(throws: DNSUpdateError.self) {
                try await readOnly.replaceA(try DNSName("app.lifeboat.test"), expected: [IPv4("127.0.0.10")!], new: [IPv4("127.0.0.20")!], ttl: 30)
            }
            // Knot answers a key the zone's ACL does not name as it answers an unknown key.
            #expect(error == .tsig(.rejectedByServer(.badKey)), "\(String(describing: error))")
            #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.10")
        }
    }

    @Test func aTruncatedAnswerIsRetriedOverTCP() async throws {
        let many = (1...60).map { "big 60 IN A 10.1.0.\($0)" }
        try await withKnot(records: many) { _, client in
            let big = try await client.addresses(of: try DNSName("big.lifeboat.test"))
            #expect(big.addresses.count == 60)
        }
    }

    @Test func aNameOutsideTheZoneIsRefusedLocally() async throws {
        try await withKnot { _, client in
            await #expect(throws: DNSUpdateError.notZone(name: "app.example.org.", zone: "lifeboat.test.")) {
                try await client.replaceA(try DNSName("app.example.org"), expected: [], new: [IPv4("127.0.0.20")!], ttl: 30)
            }
        }
    }
}
