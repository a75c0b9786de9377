import Foundation
import Synchronization

/// A long-running child process of a drill (an agent, a client), started inside a region's network
/// namespace with `ip netns exec`. Its standard output is handed over line by line; its standard
/// error goes to a log file. `stop()` sends SIGTERM, then SIGKILL after a grace period.
public final class LabProcess: Sendable {
    private let process: Mutex<Process?>
    public enum Role: Sendable, Equatable { case agent, client, monitor, etcd }

    public let name: String
    public let role: Role
    public let logFile: String

    /// Starts `command`; `onLine` gets each line of its standard output (on a Dispatch thread).
    public init(name: String, role: Role, command: [String], logFile: String, onLine: (@Sendable (String) -> Void)? = nil) throws {
        self.name = name
        self.role = role
        self.logFile = logFile
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        guard FileManager.default.createFile(atPath: logFile, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CommandError(command: "create \(logFile)", status: "failed", output: "cannot create the log file")
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.standardError = log
        let out = Pipe()
        process.standardOutput = out
        if let onLine {
            let partial = LineBuffer()
            out.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                guard !data.isEmpty else {
                    handle.readabilityHandler = nil
                    return
                }
                let lines: [String] = partial.data.withLock { buffer in
                    buffer.append(data)
                    var lines: [String] = []
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        lines.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                        buffer.removeSubrange(buffer.startIndex...newline)
                    }
                    return lines
                }
                for line in lines { onLine(line) }
            }
        } else {
            process.standardOutput = log
        }
        try process.run()
        self.process = Mutex(process)
    }

    public var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }
    public var pid: Int32 { process.withLock { $0?.processIdentifier ?? 0 } }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; waits for the exit.
    public func stop(grace: Duration = .seconds(3)) async {
        guard let child = process.withLock({ $0 }) else { return }
        if child.isRunning { kill(child.processIdentifier, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while child.isRunning, clock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if child.isRunning { kill(child.processIdentifier, SIGKILL) }
        while child.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        if let pipe = child.standardOutput as? Pipe { pipe.fileHandleForReading.readabilityHandler = nil }
    }

    /// SIGKILL, as a crash: no chance to clean up.
    public func crash() {
        process.withLock { child in
            if let child, child.isRunning { kill(child.processIdentifier, SIGKILL) }
        }
    }

    /// The last `count` lines of its log, for a failure report.
    public func logTail(_ count: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(count).joined(separator: "\n")
    }
}

final class LineBuffer: Sendable {
    let data = Mutex(Data())
}
