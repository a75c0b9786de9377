import Foundation

/// A one-member etcd (Debian's `etcd-server`) on a loopback address, in a temporary directory,
/// for tests and drills. `stop()` ends it and removes its data.
public final class EtcdServer: @unchecked Sendable {
    public let host: String
    public let clientPort: Int
    public let directory: String
    private let process: Process

    public var endpoint: String { "http://\(host):\(clientPort)" }

    public static let binary = "/usr/bin/etcd"

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "etcd not found: install Debian's etcd-server package (apt-get install -y etcd-server); scripts/test does" }
    }

    /// Installs Debian's etcd-server when missing and allowed (root).
    public static func ensureInstalled(install: Bool, log: @Sendable (String) -> Void) async throws {
        try await DebianPackage.ensure([binary], packages: ["etcd-server"], install: install, log: log)
    }

    public init(host: String = "127.0.0.1") throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { throw Missing() }
        self.host = host
        let ports = try FreePort.find(bindableOn: [host])
        var peer = try FreePort.find(bindableOn: [host])
        while peer == ports { peer = try FreePort.find(bindableOn: [host]) }
        clientPort = ports
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-etcd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--name", "t1", "--data-dir", "\(directory)/data",
            "--listen-client-urls", "http://\(host):\(clientPort)", "--advertise-client-urls", "http://\(host):\(clientPort)",
            "--listen-peer-urls", "http://\(host):\(peer)", "--initial-advertise-peer-urls", "http://\(host):\(peer)",
            "--initial-cluster", "t1=http://\(host):\(peer)", "--log-level", "error",
        ]
        FileManager.default.createFile(atPath: "\(directory)/etcd.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory)/etcd.log"))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
    }

    /// Waits until `answers` (a request to the member) succeeds, or the process exits.
    public func waitUntilServing(timeout: Duration = .seconds(20), _ answers: () async -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if await answers() { return }
            guard process.isRunning else {
                let text = (try? String(contentsOfFile: "\(directory)/etcd.log", encoding: .utf8)) ?? ""
                throw CommandError(command: "etcd", status: "exited", output: text)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CommandError(command: "etcd", status: "not serving within \(timeout)", output: "")
    }

    /// Freezes the member (SIGSTOP): it answers nothing, as if cut off, until `resume()`.
    public func pause() { kill(process.processIdentifier, SIGSTOP) }
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    public func stop() {
        resume()
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
