import Foundation

/// A secret value (password, token, key) that never prints itself.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The only way to read the value: call sites are easy to audit.
    public func reveal() -> String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// Where a secret comes from. Inline values are accepted with a warning, never recommended.
public enum SecretSource: Sendable, Equatable, CustomStringConvertible {
    case environment(String)
    case file(String)
    case inline(Secret)

    public var description: String {
        switch self {
        case .environment(let name): return "env \(name)"
        case .file(let path): return "file \(path)"
        case .inline: return "inline value (redacted)"
        }
    }

    /// Reads the secret. A file's trailing newline is dropped, as `echo secret > file` leaves one.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Secret {
        switch self {
        case .inline(let secret):
            return secret
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw SecretError(message: "environment variable \(name) is not set or empty")
            }
            return Secret(value)
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
                throw SecretError(message: "cannot read secret file \(path)")
            }
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            guard !text.isEmpty else { throw SecretError(message: "secret file \(path) is empty") }
            return Secret(text)
        }
    }
}

public struct SecretError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
