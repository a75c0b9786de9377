/// The fencing token. Every failover bumps it before any side effect; a node or monitor holding an
/// older epoch never acts as primary.
public struct Epoch: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public static let initial = Epoch(0)

    public var next: Epoch { Epoch(value + 1) }
    public var description: String { String(value) }
    public static func < (lhs: Epoch, rhs: Epoch) -> Bool { lhs.value < rhs.value }
}
