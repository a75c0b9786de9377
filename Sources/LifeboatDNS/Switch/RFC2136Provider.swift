import LifeboatCore
import LifeboatPorts

/// The record on a server that takes RFC 2136 updates (BIND, Knot, PowerDNS, …).
public struct RFC2136Provider: DNSProvider {
    public var client: RFC2136Client
    public var recordName: DNSName

    public init(client: RFC2136Client, record: DNSName) {
        self.client = client
        self.recordName = record
    }

    public var name: String { "RFC 2136 at \(client.server)" }
    public var record: String { recordName.description }

    public func currentTargets() async throws -> (targets: [IPv4], ttl: Int?) {
        let (addresses, ttl) = try await client.addresses(of: recordName)
        return (addresses, ttl.map(Int.init))
    }

    public func replaceTargets(expected: [IPv4], with targets: [IPv4], ttl: Int) async throws -> Int {
        try await client.replaceA(recordName, expected: expected, new: targets, ttl: UInt32(ttl))
        return ttl
    }
}

/// One authoritative server, asked directly (no recursion, no cache).
public struct AuthoritativeServer: DNSAnswerSource {
    public var client: RFC2136Client
    public var recordName: DNSName

    public init(server: DNSServer, zone: DNSName, record: DNSName, timeout: Duration = .seconds(1)) {
        self.client = RFC2136Client(server: server, zone: zone, key: nil, timeout: timeout)
        self.recordName = record
    }

    public var name: String { client.server.description }

    public func answer() async throws -> [IPv4] {
        try await client.addresses(of: recordName).addresses
    }
}
