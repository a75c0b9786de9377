import LifeboatCore

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
