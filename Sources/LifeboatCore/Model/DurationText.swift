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

    /// Parses `250ms`, `5s`, `1.5s`, `2m`, `1h`, `1m30s`. Nil for anything else (such as `5x`).
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingSpaces())
        guard !rest.isEmpty else { return nil }
        var total = Duration.zero
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number), value >= 0 else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            total += .milliseconds(Int64((value * scale * 1000).rounded()))
        }
        return total
    }
}

extension Duration {
    /// Whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
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
