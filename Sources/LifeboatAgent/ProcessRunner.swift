import Foundation
import Synchronization
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

/// Runs a program with a hard time limit (swift-subprocess), in a process group of its own. On
/// timeout or cancellation the whole group gets SIGTERM — every rsync process (it forks a
/// receiver and a generator) removes its temporary file and stops before any delayed update is
/// applied — and SIGKILL if the program is still there 2 s later.
public enum ProcessRunner {
    public static func run(_ argv: [String], timeout: Duration, environment: [String: String] = [:]) async throws -> ProcessOutcome {
        precondition(!argv.isEmpty)
        let clock = ContinuousClock()
        let start = clock.now
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let env: Environment = environment.isEmpty ? .inherit : .inherit.updating(
            Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) }))
        let executable: Executable = argv[0].contains("/") ? .path(FilePath(argv[0])) : .name(argv[0])
        let arguments = Arguments(Array(argv.dropFirst()))
        let platformOptions = options
        // The child leads a process group of its own (pgid = its pid): once it is torn down, what it
        // forked is waited for too, so nothing of it still writes when this returns.
        let group = ProcessGroupID()
        let outcome: ProcessOutcome
        do {
            outcome = try await run(executable, arguments, env, platformOptions, timeout: timeout, group: group, start: start)
        } catch {
            await group.reap()
            throw error
        }
        await group.reap()
        return outcome
    }

    private static func run(_ executable: Executable, _ arguments: Arguments, _ env: Environment, _ platformOptions: PlatformOptions,
                            timeout: Duration, group: ProcessGroupID, start: ContinuousClock.Instant) async throws -> ProcessOutcome {
        let clock = ContinuousClock()
        return try await withThrowingTaskGroup(of: ProcessOutcome?.self) { tasks in
            tasks.addTask {
                let result = try await Subprocess.run(executable, arguments: arguments, environment: env, workingDirectory: nil,
                                                      platformOptions: platformOptions, input: .none,
                                                      output: .string(limit: 1 << 20), error: .string(limit: 1 << 20)) { execution in
                    group.set(execution.processIdentifier.value)
                }
                let ending: ProcessOutcome.Ending = switch result.terminationStatus {
                case .exited(let code): .exited(code)
                case .signaled(let signal): .signalled(signal)
                }
                return ProcessOutcome(ending: ending, output: result.standardOutput ?? "", errorOutput: result.standardError ?? "",
                                      duration: start.duration(to: clock.now))
            }
            tasks.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await tasks.next()!
            tasks.cancelAll()
            if let outcome = first { return outcome }
            // The timer won: cancelling the group tears the child down; wait for it to be gone.
            while let _ = try? await tasks.next() {}
            return ProcessOutcome(ending: .timedOut, output: "", errorOutput: "", duration: start.duration(to: clock.now))
        }
    }
}

/// The process group a child leads, and the wait for every process in it to be gone.
final class ProcessGroupID: Sendable {
    private let pid = Mutex<pid_t>(0)

    func set(_ value: pid_t) { pid.withLock { $0 = value } }

    /// SIGTERM to what is left of the group, SIGKILL after 2 s, and returns once the group is empty
    /// (bounded: 5 s).
    func reap() async {
        let leader = pid.withLock { $0 }
        guard leader > 0, kill(-leader, 0) == 0 else { return }
        kill(-leader, SIGTERM)
        for tick in 0..<250 {
            if kill(-leader, 0) != 0 { return }
            if tick == 100 { kill(-leader, SIGKILL) }
            // Deaf to cancellation: the caller's pass is being torn down, and this must finish.
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { continuation.resume() }
            }
        }
    }
}
