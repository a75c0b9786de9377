import Foundation
import LifeboatCore
import Yams

/// Reads typed values out of a YAML node tree, collecting every problem with its position
/// instead of stopping at the first.
final class ConfigReader {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    func report(_ severity: Diagnostic.Severity, at mark: Mark?, _ path: String, _ message: String) {
        report(severity, line: mark?.line ?? 1, column: mark?.column ?? 1, path, message)
    }

    func report(_ severity: Diagnostic.Severity, line: Int, column: Int, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(severity: severity, file: file, line: max(1, line), column: max(1, column), path: path, message: message))
    }

    func error(_ node: Node?, _ path: String, _ message: String) { report(.error, at: node?.mark, path, message) }
    func warning(_ node: Node?, _ path: String, _ message: String) { report(.warning, at: node?.mark, path, message) }

    /// A mapping's entries by key, after checking for unknown and repeated keys.
    func mapping(_ node: Node, _ path: String, keys allowed: [String]) -> Fields? {
        guard case .mapping(let mapping) = node else {
            error(node, path, "expected a mapping with keys \(allowed.joined(separator: ", ")), found \(describe(node))")
            return nil
        }
        var fields = Fields(node: node, path: path)
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                error(keyNode, path, "keys must be plain strings")
                continue
            }
            let fieldPath = path.isEmpty ? key : "\(path).\(key)"
            if !allowed.contains(key) {
                error(keyNode, fieldPath, "unknown key '\(key)'\(Suggestions.hint(for: key, in: allowed))")
                continue
            }
            if fields.entries[key] != nil {
                error(keyNode, fieldPath, "key '\(key)' appears more than once")
                continue
            }
            fields.entries[key] = (keyNode, value)
        }
        return fields
    }

    func sequence(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            error(node, path, "expected a list, found \(describe(node))")
            return nil
        }
        return Array(sequence)
    }

    func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node, scalar.tag.description != Tag.Name.null.rawValue, !isNull(scalar) else {
            error(node, path, "expected a string, found \(describe(node))")
            return nil
        }
        guard !scalar.string.isEmpty else {
            error(node, path, "must not be empty")
            return nil
        }
        return scalar.string
    }

    /// A name of a node, region or service: it appears in logs, the journal, metrics labels and
    /// URLs, so letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit.
    func name(_ node: Node, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        let allowed = { (c: Unicode.Scalar) in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-"
        }
        guard text.unicodeScalars.count <= 63, text.unicodeScalars.allSatisfy(allowed), text.first.map({ $0.isLetter || $0.isNumber }) == true else {
            error(node, path, "a name is letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit), found \(describe(node))")
            return nil
        }
        return text
    }

    func int(_ node: Node, _ path: String, min: Int = Int.min, max: Int = Int.max) -> Int? {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            error(node, path, "expected a whole number, found \(describe(node))")
            return nil
        }
        guard value >= min, value <= max else {
            let range = max == Int.max ? "at least \(min)" : "between \(min) and \(max)"
            error(node, path, "expected a number \(range), found \(value)")
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            error(node, path, "expected true or false, found \(describe(node))")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(node, path, "expected true or false, found '\(scalar.string)'")
            return nil
        }
    }

    /// `500ms`, `2s`, `1m30s`, `1h`; at least `minimum`, at most `maximum` (30 days unless a
    /// setting says otherwise: longer is a typo, and would overflow the arithmetic done with it).
    func duration(_ node: Node, _ path: String, atLeast minimum: Duration = .zero, atMost maximum: Duration = .seconds(30 * 24 * 3600)) -> Duration? {
        guard case .scalar(let scalar) = node else {
            error(node, path, "expected a duration such as 500ms, 5s, 2m or 1h, found \(describe(node))")
            return nil
        }
        let value: Duration
        switch DurationText.parseChecked(scalar.string) {
        case .success(let parsed): value = parsed
        case .failure(.tooLarge):
            error(node, path, "must be at most \(DurationText.format(maximum)), found \(describe(node))")
            return nil
        case .failure(.malformed):
            error(node, path, "expected a duration such as 500ms, 5s, 2m or 1h, found \(describe(node))")
            return nil
        }
        guard value >= minimum, value > .zero || minimum == .zero else {
            error(node, path, "must be at least \(DurationText.format(minimum)), found \(describe(node))")
            return nil
        }
        guard value <= maximum else {
            error(node, path, "must be at most \(DurationText.format(maximum)), found \(describe(node))")
            return nil
        }
        return value
    }

    /// A byte count: a whole number, or with a unit (`16MB`, `16MiB`, `512kB`).
    func bytes(_ node: Node, _ path: String) -> UInt64? {
        guard case .scalar(let scalar) = node else {
            error(node, path, "expected a size in bytes such as 16777216 or 16MiB, found \(describe(node))")
            return nil
        }
        let text = scalar.string.replacingOccurrences(of: " ", with: "")
        let digits = text.prefix { $0.isNumber }
        let unit = text.dropFirst(digits.count).lowercased()
        let scale: UInt64? = switch unit {
        case "", "b": 1
        case "kb": 1000
        case "kib", "k": 1024
        case "mb": 1_000_000
        case "mib", "m": 1024 * 1024
        case "gb": 1_000_000_000
        case "gib", "g": 1024 * 1024 * 1024
        default: nil
        }
        guard !digits.isEmpty, let scale else {
            error(node, path, "expected a size in bytes such as 16777216 or 16MiB, found \(describe(node))")
            return nil
        }
        guard let number = UInt64(digits), case (let total, false) = number.multipliedReportingOverflow(by: scale), total <= 1 << 50 else {
            error(node, path, "must be at most 1PiB, found \(describe(node))")
            return nil
        }
        return total
    }

    /// A node as a message shows it: a scalar quoted, escaped (no control characters reach a
    /// terminal) and cut short.
    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if isNull(scalar) { return "nothing (null)" }
            return "'\(LogSafe.escape(scalar.string, maxLength: 80))'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// An explicit null (`~`, `null`, or nothing after the colon).
    func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node { return isNull(scalar) }
        return false
    }

    private func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }
}

/// The entries of one mapping, with the mapping's own position for "missing key" errors.
struct Fields {
    let node: Node
    let path: String
    var entries: [String: (key: Node, value: Node)] = [:]

    subscript(key: String) -> Node? { entries[key]?.value }

    func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

extension ConfigReader {
    func required(_ fields: Fields, _ key: String, what: String) -> Node? {
        if let node = fields[key] { return node }
        error(fields.node, fields.path(key), "missing required key '\(key)' (\(what))")
        return nil
    }
}
