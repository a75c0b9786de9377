/// Formats and parses the durations operators write in config and read in logs: `500ms`, `2s`, `1m30s`.
public enum DurationText {
    public static func format(_ d: Duration) -> String {
        let ms = d.milliseconds
        if ms < 1000 { return "\(max(ms, 0))ms" }
        var rest = ms
        var out = ""
        if rest >= 3_600_000 { out += "\(rest / 3_600_000)h"; rest %= 3_600_000 }
        if rest >= 60000 { out += "\(rest / 60000)m"; rest %= 60000 }
        if rest > 0 {
            let tenths = (rest % 1000) / 100
            out += tenths > 0 ? "\(rest / 1000).\(tenths)s" : "\(rest / 1000)s"
        }
        return out
    }

    /// The longest duration any setting takes (ten years): anything longer is a typo, and
    /// larger values would overflow the arithmetic done with them.
    public static let maximum = Duration.seconds(10 * 365 * 24 * 3600)

    public enum Problem: Error, Sendable, Equatable {
        /// Not a duration at all (`5x`, `fast`).
        case malformed
        /// Well formed, but longer than `maximum`.
        case tooLarge
    }

    /// Parses `250ms`, `5s`, `1.5s`, `2m`, `1h`, `1m30s`. Nil for anything else (such as `5x`) or
    /// anything longer than `maximum`.
    public static func parse(_ text: String) -> Duration? {
        try? parseChecked(text).get()
    }

    /// As `parse`, saying why not.
    public static func parseChecked(_ text: String) -> Result<Duration, Problem> {
        var rest = Substring(text.trimmingSpaces())
        guard !rest.isEmpty else { return .failure(.malformed) }
        var totalSeconds = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number.count <= 40, let value = Double(number), value.isFinite, value >= 0 else { return .failure(.malformed) }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return .failure(.malformed)
            }
            totalSeconds += value * scale
            guard totalSeconds <= maximum.seconds else { return .failure(.tooLarge) }
        }
        return .success(.milliseconds(Int64((totalSeconds * 1000).rounded())))
    }
}

extension Duration {
    /// Whole milliseconds (truncated; saturating at Int64's bounds rather than trapping).
    public var milliseconds: Int64 {
        let (s, atto) = components
        let (ms, overflow) = s.multipliedReportingOverflow(by: 1000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, overflow2) = ms.addingReportingOverflow(atto / 1_000_000_000_000_000)
        return overflow2 ? (s < 0 ? .min : .max) : sum
    }

    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

extension String {
    func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return s
    }
}
