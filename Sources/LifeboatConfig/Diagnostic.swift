import LifeboatCore

/// One problem found in a config file, located precisely enough to fix without guessing.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }

    public var severity: Severity
    public var file: String
    public var line: Int
    public var column: Int
    /// The field path, such as `database.nodes[1].region`.
    public var path: String
    public var message: String

    /// One line: whatever the file held (a key with a newline, an escape sequence) is shown
    /// escaped, so a diagnostic can neither forge another line nor colour a terminal.
    public var description: String {
        let shownPath = LogSafe.escape(path, maxLength: 200)
        return "\(file):\(line):\(column): \(severity.rawValue): \(shownPath.isEmpty ? "" : "\(shownPath): ")\(LogSafe.escape(message, maxLength: 600))"
    }
}

/// A config file that did not validate. Carries every problem, not just the first.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
