/// A domain name as DNS carries it: labels, compared case-insensitively.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public var labels: [String]

    /// Parses `app.example.com` or `app.example.com.`. Rejects empty labels and labels over 63 bytes.
    public init(_ text: String) throws {
        var trimmed = Substring(text)
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty else { labels = []; return }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 }) else {
            throw DNSWireError.badName(text)
        }
        labels = parts
        guard wireLength <= 255 else { throw DNSWireError.badName(text) }
    }

    public init(labels: [String]) { self.labels = labels }

    public static let root = DNSName(labels: [])

    public var description: String { labels.isEmpty ? "." : labels.joined(separator: ".") + "." }

    /// Lower-cased, as TSIG's canonical form requires.
    public var canonical: DNSName { DNSName(labels: labels.map { $0.lowercased() }) }

    public var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.utf8.count } }

    /// True if `self` equals `zone` or lies below it.
    public func isWithin(_ zone: DNSName) -> Bool {
        let mine = canonical.labels, theirs = zone.canonical.labels
        return mine.count >= theirs.count && Array(mine.suffix(theirs.count)) == theirs
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool { lhs.canonical.labels == rhs.canonical.labels }
    public func hash(into hasher: inout Hasher) { hasher.combine(canonical.labels) }

    /// Uncompressed wire form.
    func write(to bytes: inout [UInt8]) {
        for label in labels {
            bytes.append(UInt8(label.utf8.count))
            bytes.append(contentsOf: label.utf8)
        }
        bytes.append(0)
    }
}
