/// The data of a record, for the types Lifeboat uses; others are kept as bytes.
public enum DNSRecordData: Sendable, Equatable {
    case a(IPv4)
    case soa(SOA)
    case name(DNSName)
    case tsig(TSIGData)
    /// No data (RDLENGTH 0), as RFC 2136 prerequisites and deletions use.
    case empty
    case raw([UInt8])
}

public struct SOA: Sendable, Equatable {
    public var primaryServer: DNSName
    public var responsible: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    public var minimum: UInt32
}

/// An IPv4 address, parsed from and printed as dotted quads.
public struct IPv4: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isNumber), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        self.bytes = bytes
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { bytes.map(String.init).joined(separator: ".") }
    public static func < (lhs: IPv4, rhs: IPv4) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

public struct DNSQuestion: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSType
    public var dnsClass: DNSClass

    public init(name: DNSName, type: DNSType, dnsClass: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.dnsClass = dnsClass
    }
}

public struct DNSRecord: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSType
    public var dnsClass: DNSClass
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, type: DNSType, dnsClass: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.dnsClass = dnsClass
        self.ttl = ttl
        self.data = data
    }
}
