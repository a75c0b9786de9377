import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// How a bounded child process ended.
public struct ProcessOutcome: Sendable {
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed by us: it ran longer than its timeout (SIGTERM, then SIGKILL 2 s later).
        case timedOut
    }

    public var ending: Ending
    public var output: String
    public var errorOutput: String
    public var duration: Duration

    public var succeeded: Bool { ending == .exited(0) }

    /// The exit status, when the program exited by itself.
    public var exitCode: Int32? {
        if case .exited(let code) = ending { return code }
        return nil
    }

    /// `exit 3`, `killed by signal 9`, `timed out after 2s`, with the last line it printed on stderr.
    public func describe(timeout: Duration) -> String {
        let status = switch ending {
        case .exited(let code): "exit \(code)"
        case .signalled(let signal): "killed by signal \(signal)"
        case .timedOut: "timed out after \(timeout)"
        }
        // The first lines say what went wrong; rsync's last line only repeats its exit code.
        let lines = (errorOutput.isEmpty ? output : errorOutput).split(separator: "\n").prefix(2).map { $0.prefix(200) }
        return status + (lines.isEmpty ? "" : ": " + lines.joined(separator: " / "))
    }
}

/// Runs a program with a hard time limit (swift-subprocess). On timeout the child gets SIGTERM —
/// rsync then removes its temporary file — and SIGKILL if it is still there 2 s later.
public enum ProcessRunner {
    public static func run(_ argv: [String], timeout: Duration, environment: [String: String] = [:]) async throws -> ProcessOutcome {
        precondition(!argv.isEmpty)
        let clock = ContinuousClock()
        let start = clock.now
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
        let env: Environment = environment.isEmpty ? .inherit : .inherit.updating(
            Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) }))
        let executable: Executable = argv[0].contains("/") ? .path(FilePath(argv[0])) : .name(argv[0])
        let arguments = Arguments(Array(argv.dropFirst()))
        let platformOptions = options
        return try await withThrowingTaskGroup(of: ProcessOutcome?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(executable, arguments: arguments, environment: env, platformOptions: platformOptions,
                                                      output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
                let ending: ProcessOutcome.Ending = switch result.terminationStatus {
                case .exited(let code): .exited(code)
                case .signaled(let signal): .signalled(signal)
                }
                return ProcessOutcome(ending: ending, output: result.standardOutput, errorOutput: result.standardError,
                                      duration: start.duration(to: clock.now))
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            if let outcome = first { return outcome }
            // The timer won: cancelling the group tears the child down; wait for it to be gone.
            while let _ = try? await group.next() {}
            return ProcessOutcome(ending: .timedOut, output: "", errorOutput: "", duration: start.duration(to: clock.now))
        }
    }
}
