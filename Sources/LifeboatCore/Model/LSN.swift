/// A PostgreSQL write-ahead-log position, printed the way PostgreSQL prints it (`16/B374D848`).
public struct LSN: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// Parses PostgreSQL's `pg_lsn` text form, `HI/LO` in hexadecimal.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              let hi = UInt64(parts[0], radix: 16), let lo = UInt64(parts[1], radix: 16),
              hi <= UInt64(UInt32.max), lo <= UInt64(UInt32.max)
        else { return nil }
        self.value = hi << 32 | lo
    }

    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }

    /// Bytes from `other` up to `self`, zero when `other` is ahead.
    public func bytes(after other: LSN) -> UInt64 { value > other.value ? value - other.value : 0 }
}
