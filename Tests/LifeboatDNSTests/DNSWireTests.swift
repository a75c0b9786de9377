import LifeboatCore
import LifeboatDNS
import Testing

@Suite struct DNSWireTests {
    @Test func namesParseAndCompareCaseInsensitively() throws {
        #expect(try DNSName("App.Example.COM.") == DNSName("app.example.com"))
        #expect(try DNSName("app.example.com").isWithin(DNSName("example.com")))
        #expect(try !DNSName("example.com").isWithin(DNSName("app.example.com")))
        #expect(throws: DNSWireError.self) { try DNSName("a..b") }
        #expect(throws: DNSWireError.self) { try DNSName(String(repeating: "x", count: 64) + ".com") }
    }

    @Test func messagesRoundTrip() throws {
        var message = DNSMessage(id: 0x1234, opcode: .update)
        message.questions = [DNSQuestion(name: try DNSName("example.com"), type: .soa)]
        message.answers = [DNSRecord(name: try DNSName("app.example.com"), type: .a, ttl: 0, data: .a(IPv4("192.0.2.1")!))]
        message.authority = [DNSRecord(name: try DNSName("app.example.com"), type: .a, dnsClass: .any, ttl: 0, data: .empty)]
        let decoded = try DNSMessage.decode(message.encode())
        #expect(decoded.id == 0x1234)
        #expect(decoded.opcode == .update)
        #expect(decoded.questions == message.questions)
        #expect(decoded.answers == message.answers)
        #expect(decoded.authority == message.authority)
    }

    @Test func compressedNamesAreFollowed() throws {
        // Header (1 question, 1 answer), question app.ex.com A IN, answer with a pointer to offset 12.
        var bytes: [UInt8] = [0x00, 0x07, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]
        bytes += [3] + Array("app".utf8) + [2] + Array("ex".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        bytes += [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 7]
        let message = try DNSMessage.decode(bytes)
        #expect(message.isResponse && message.authoritative)
        #expect(message.answers.first?.name == (try DNSName("app.ex.com")))
        #expect(message.answers.first?.data == .a(IPv4("10.0.0.7")!))
        #expect(message.answers.first?.ttl == 30)
    }

    @Test func malformedMessagesAreErrorsNotCrashes() {
        #expect(throws: DNSWireError.self) { try DNSMessage.decode([0x00, 0x01, 0x80]) }
        // A pointer to itself.
        let loop: [UInt8] = [0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSWireError.self) { try DNSMessage.decode(loop) }
    }

    @Test func ipv4Parsing() {
        #expect(IPv4("192.0.2.10")?.description == "192.0.2.10")
        #expect(IPv4("192.0.2") == nil)
        #expect(IPv4("256.0.0.1") == nil)
        #expect(IPv4("a.b.c.d") == nil)
    }

    @Test func tsigSecretMustBeBase64() {
        #expect(throws: TSIGError.self) { try TSIGKey(name: "k", secretBase64: "not base64!") }
        let key = try? TSIGKey(name: "k", secretBase64: "c2VjcmV0")
        #expect(key?.description == "TSIG key k. (hmac-sha256, secret redacted)")
    }
}
