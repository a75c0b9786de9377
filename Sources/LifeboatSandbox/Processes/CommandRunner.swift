import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A command that exited non-zero, with what it printed.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public var command: String
    public var status: String
    public var output: String

    public var description: String {
        let tail = output.split(separator: "\n").suffix(15).joined(separator: "\n")
        return "\(command) \(status)\(tail.isEmpty ? "" : ":\n\(tail)")"
    }
}

/// Runs local commands, as an unprivileged user when this process is root (PostgreSQL refuses
/// to run as root).
public struct CommandRunner: Sendable {
    /// The OS user commands run as when we are root (`postgres` once the package is installed).
    public var runAsUser: String?

    public init(runAsUser: String? = nil) { self.runAsUser = runAsUser }

    public static var isRoot: Bool { geteuid() == 0 }

    /// Runs `executable` with `arguments`; throws `CommandError` on a non-zero exit.
    @discardableResult
    public func run(_ executable: String, _ arguments: [String], asUser: Bool = true, discardOutput: Bool = false) async throws -> String {
        var exe = executable
        var args = arguments
        if asUser, let user = runAsUser {
            exe = "/usr/sbin/runuser"
            args = ["-u", user, "--", executable] + arguments
        }
        let display = ([executable] + arguments).joined(separator: " ")
        if discardOutput {
            let result = try await Subprocess.run(.path(FilePath(exe)), arguments: Arguments(args), output: .discarded, error: .discarded)
            guard case .exited(0) = result.terminationStatus else {
                throw CommandError(command: display, status: "\(result.terminationStatus)", output: "")
            }
            return ""
        }
        let result = try await Subprocess.run(
            .path(FilePath(exe)), arguments: Arguments(args),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20)
        )
        let output = result.standardOutput + result.standardError
        guard case .exited(0) = result.terminationStatus else {
            throw CommandError(command: display, status: "\(result.terminationStatus)", output: output)
        }
        return output
    }
}
