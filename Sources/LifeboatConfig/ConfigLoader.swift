import Foundation

public enum ConfigLoader {
    /// Reads and validates a config file. Throws `ConfigurationError` with every problem found.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LifeboatConfiguration {
        let (config, diagnostics) = try check(path: path, environment: environment)
        guard let config else { throw ConfigurationError(diagnostics: diagnostics) }
        return config
    }

    /// Reads a config file and returns the configuration (nil when it has errors) and every diagnostic.
    public static func check(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> (LifeboatConfiguration?, [Diagnostic])
    {
        let text = try readText(path)
        return ConfigParser.parse(yaml: text, file: path, environment: environment)
    }

    /// A config file's text; a missing, unreadable or non-UTF-8 file is a `ConfigurationError`.
    static func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(diagnostics: [
                Diagnostic(severity: .error, file: path, line: 0, column: 0, path: "",
                           message: FileManager.default.fileExists(atPath: path) ? "cannot read the file (permissions?)" : "no such file"),
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(diagnostics: [
                Diagnostic(severity: .error, file: path, line: 0, column: 0, path: "", message: "the file is not UTF-8 text"),
            ])
        }
        return text
    }
}

/// A parsed configuration that carries the non-fatal findings of its file.
protocol CarriesWarnings {
    var warnings: [Diagnostic] { get set }
}

extension LifeboatConfiguration: CarriesWarnings {}
extension AgentConfiguration: CarriesWarnings {}
