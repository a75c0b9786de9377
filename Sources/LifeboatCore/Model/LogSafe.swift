/// Text that came from outside (an API request's `by`, a node name it asked for) before it reaches
/// a log line, the journal or a message: control characters (newline, carriage return, ANSI
/// escape, …) are shown escaped so they cannot forge a line or colour a terminal, and the length is
/// bounded.
public enum LogSafe {
    public static let maximumLength = 128

    public static func escape(_ text: String, maxLength: Int = maximumLength) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= maxLength {
                out += "…"
                break
            }
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x5C: out += "\\\\"
            case 0x00..<0x20, 0x7F..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
