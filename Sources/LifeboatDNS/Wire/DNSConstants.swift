/// Record types Lifeboat reads and writes.
public struct DNSType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSType(rawValue: 1)
    public static let ns = DNSType(rawValue: 2)
    public static let cname = DNSType(rawValue: 5)
    public static let soa = DNSType(rawValue: 6)
    public static let aaaa = DNSType(rawValue: 28)
    public static let tsig = DNSType(rawValue: 250)
    public static let any = DNSType(rawValue: 255)

    public var description: String {
        switch self {
        case .a: return "A"
        case .ns: return "NS"
        case .cname: return "CNAME"
        case .soa: return "SOA"
        case .aaaa: return "AAAA"
        case .tsig: return "TSIG"
        case .any: return "ANY"
        default: return "TYPE\(rawValue)"
        }
    }
}

public struct DNSClass: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let internet = DNSClass(rawValue: 1)
    /// RFC 2136: "delete this RR" in the update section.
    public static let none = DNSClass(rawValue: 254)
    /// RFC 2136: "any" in prerequisites and "delete the RRset" in updates; TSIG's class.
    public static let any = DNSClass(rawValue: 255)
}

public enum DNSOpcode: UInt8, Sendable {
    case query = 0
    case update = 5
}

/// Response codes, including the extended ones TSIG reports (RFC 8945).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = Self(rawValue: 0)
    public static let formErr = Self(rawValue: 1)
    public static let servFail = Self(rawValue: 2)
    public static let nxDomain = Self(rawValue: 3)
    public static let notImp = Self(rawValue: 4)
    public static let refused = Self(rawValue: 5)
    public static let yxDomain = Self(rawValue: 6)
    public static let yxRRSet = Self(rawValue: 7)
    public static let nxRRSet = Self(rawValue: 8)
    public static let notAuth = Self(rawValue: 9)
    public static let notZone = Self(rawValue: 10)
    public static let badSig = Self(rawValue: 16)
    public static let badKey = Self(rawValue: 17)
    public static let badTime = Self(rawValue: 18)

    public var description: String {
        let names: [UInt16: String] = [
            0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
            7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME",
        ]
        return names[rawValue] ?? "RCODE\(rawValue)"
    }
}
