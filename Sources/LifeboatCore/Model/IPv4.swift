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

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { bytes.map(String.init).joined(separator: ".") }
    public static func < (lhs: IPv4, rhs: IPv4) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// Encoded as its dotted-quad text.
extension IPv4: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let ip = IPv4(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(text)"))
        }
        self = ip
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
