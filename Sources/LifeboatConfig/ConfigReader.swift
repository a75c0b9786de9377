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
        diagnostics.append(Diagnostic(severity: severity, file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, path: path, message: message))
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

    /// `500ms`, `2s`, `1m30s`, `1h`.
    func duration(_ node: Node, _ path: String, atLeast minimum: Duration = .zero) -> Duration? {
        guard case .scalar(let scalar) = node, let value = DurationText.parse(scalar.string) else {
            error(node, path, "expected a duration such as 500ms, 5s, 2m or 1h, found \(describe(node))")
            return nil
        }
        guard value >= minimum, value > .zero || minimum == .zero else {
            error(node, path, "must be at least \(DurationText.format(minimum)), found \(scalar.string)")
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
        guard let number = UInt64(digits), let scale else {
            error(node, path, "expected a size in bytes such as 16777216 or 16MiB, found \(describe(node))")
            return nil
        }
        return number * scale
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if isNull(scalar) { return "nothing (null)" }
            return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
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
