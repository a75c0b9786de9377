import Foundation

/// A libpq `key=value` connection string, such as a standby's `primary_conninfo`.
/// Repointing keeps every key the operator set (user, password, sslmode, application_name)
/// and replaces only where the primary is.
public struct ConnInfo: Equatable, Sendable {
    public var pairs: [(key: String, value: String)]

    public init(pairs: [(key: String, value: String)] = []) { self.pairs = pairs }

    public static func == (lhs: ConnInfo, rhs: ConnInfo) -> Bool {
        lhs.pairs.map(\.key) == rhs.pairs.map(\.key) && lhs.pairs.map(\.value) == rhs.pairs.map(\.value)
    }

    /// Parses `host=a port=5432 password='it''s'`-style strings (single quotes, backslash escapes).
    public init(parsing text: String) throws {
        var pairs: [(key: String, value: String)] = []
        var chars = Array(text)[...]
        func skipSpaces() { while chars.first?.isWhitespace == true { chars = chars.dropFirst() } }
        while true {
            skipSpaces()
            guard !chars.isEmpty else { break }
            let key = String(chars.prefix { $0 != "=" && !$0.isWhitespace })
            chars = chars.dropFirst(key.count)
            skipSpaces()
            guard !key.isEmpty, chars.first == "=" else { throw ConnInfoError(text: "expected key=value near '\(key)'") }
            chars = chars.dropFirst()
            skipSpaces()
            var value = ""
            if chars.first == "'" {
                chars = chars.dropFirst()
                var closed = false
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if c == "\\", let next = chars.first { value.append(next); chars = chars.dropFirst(); continue }
                    if c == "'" { closed = true; break }
                    value.append(c)
                }
                guard closed else { throw ConnInfoError(text: "unterminated quote in value of \(key)") }
            } else {
                while let c = chars.first, !c.isWhitespace {
                    chars = chars.dropFirst()
                    if c == "\\", let next = chars.first { value.append(next); chars = chars.dropFirst(); continue }
                    value.append(c)
                }
            }
            pairs.append((key, value))
        }
        self.pairs = pairs
    }

    public subscript(key: String) -> String? {
        get { pairs.first { $0.key == key }?.value }
        set {
            if let newValue {
                if let i = pairs.firstIndex(where: { $0.key == key }) { pairs[i].value = newValue } else { pairs.append((key, newValue)) }
            } else {
                pairs.removeAll { $0.key == key }
            }
        }
    }

    /// The string form, every value quoted.
    public var text: String {
        pairs.map { "\($0.key)='\($0.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'"))'" }.joined(separator: " ")
    }

    /// Same string with the password shown as `********`, for logs and the journal.
    public var redacted: String {
        var copy = self
        if copy["password"] != nil { copy["password"] = "********" }
        return copy.text
    }
}

public struct ConnInfoError: Error, CustomStringConvertible {
    public var text: String
    public var description: String { "cannot parse conninfo: \(text)" }
}
