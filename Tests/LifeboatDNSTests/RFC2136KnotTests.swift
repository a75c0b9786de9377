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

/// PowerDNS answers a signed UPDATE it does not accept (wrong secret, unknown key, key not
/// allowed) with an unsigned REFUSED. A one-answer UDP stand-in on loopback gives that answer.
@Suite struct UnsignedRefusalTests {
    /// Binds 127.0.0.1:0 and answers the first query it receives with REFUSED, no TSIG.
    static func refusingServer() throws -> (port: Int, done: Task<Void, Never>) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let done = Task.detached {
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            var peer = sockaddr_in()
            var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            let count = withUnsafeMutablePointer(to: &peer) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &peerLength) }
            }
            guard count > 0, var message = try? DNSMessage.decode(Array(buffer[..<count])) else { return }
            message.isResponse = true
            message.rcode = 5 // REFUSED
            message.answers = []
            message.authority = []
            message.additional = []
            let reply = message.encode()
            _ = withUnsafeMutablePointer(to: &peer) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, reply, reply.count, 0, $0, peerLength) }
            }
        }
        return (port, done)
    }

    @Test func anUnsignedRefusalNamesWrongSecretUnknownKeyOrNotAllowed() async throws {
        let (port, done) = try Self.refusingServer()
        let client = RFC2136Client(server: DNSServer(host: "127.0.0.1", port: port), zone: try DNSName("example.test"),
                                   key: try TSIGKey(name: "lifeboat-key", secretBase64: Data(repeating: 1, count: 32).base64EncodedString()),
                                   timeout: .seconds(5))
        do {
            try await client.replaceA(try DNSName("app.example.test"), expected: [IPv4("192.0.2.1")!], new: [IPv4("192.0.2.2")!], ttl: 30)
            Issue.record("a refused update succeeded")
        } catch let error as DNSUpdateError {
            #expect(error == .refusedUnsigned(zone: "example.test.", key: "lifeboat-key."), "\(error)")
            #expect(error.description.contains("a wrong secret, an unknown key name, or a key not allowed to update the zone"))
        }
        await done.value
    }
}
