/// A byte count for people, in binary units with one decimal: `800 B`, `12.0 MiB`, `1.5 GiB`.
public struct ByteCount: Sendable, Equatable, CustomStringConvertible {
    public let bytes: UInt64
    public init(_ bytes: UInt64) { self.bytes = bytes }

    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var unit = 0
        var scale: UInt64 = 1
        while bytes / scale >= 1024, unit < units.count - 1 {
            scale *= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        // Tenths, rounded half up, in integers (no Foundation here).
        let tenths = (bytes / scale) * 10 + ((bytes % scale) * 10 + scale / 2) / scale
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
