import Foundation
import LifeboatDNS

/// A real authoritative DNS server (Knot) on a loopback port, serving one zone that accepts
/// TSIG-signed RFC 2136 updates. Started per test, stopped by `stop()`.
public final class KnotServer: @unchecked Sendable {
    public let port: Int
    /// The loopback address it listens on.
    public let host: String
    public let zone: String
    public let keyName: String
    public let keySecret: String
    /// A second key the server knows but whose updates the zone's ACL does not allow.
    public let readOnlyKeyName = "lifeboat-readonly"
    public let readOnlyKeySecret: String
    public let directory: String
    private let process: Process

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "knotd not found: install Debian's knot package (apt-get install -y knot knot-dnsutils); scripts/test does" }
    }

    /// Installs Debian's knot and knot-dnsutils with apt-get when missing and allowed (root).
    public static func ensureInstalled(install: Bool, log: @Sendable (String) -> Void) async throws {
        try await DebianPackage.ensure(["/usr/sbin/knotd", "/usr/bin/kdig"], packages: ["knot", "knot-dnsutils"], install: install, log: log)
    }

    /// `records` are zone-file lines added after the SOA/NS, e.g. `app IN A 127.0.0.10`.
    public init(zone: String = "lifeboat.test", records: [String] = ["app 60 IN A 127.0.0.10"], port: Int? = nil, host: String = "127.0.0.1") throws {
        self.host = host
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/knotd") else { throw Missing() }
        self.zone = zone
        self.keyName = "lifeboat-key"
        self.keySecret = Self.randomSecret()
        self.readOnlyKeySecret = Self.randomSecret()
        self.port = try port ?? FreePort.find(bindableOn: [host])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-knot-\(UUID().uuidString.prefix(8))").path
        self.directory = dir
        for sub in ["zones", "run", "storage"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        let zoneFile = """
            $ORIGIN \(zone).
            $TTL 60
            @ IN SOA ns1 hostmaster 1 3600 600 86400 30
            @ IN NS ns1
            ns1 IN A 127.0.0.1
            \(records.joined(separator: "\n"))

            """
        try zoneFile.write(toFile: "\(dir)/zones/\(zone).zone", atomically: true, encoding: .utf8)
        let config = """
            server:
                rundir: "\(dir)/run"
                listen: \(host)@\(self.port)
            key:
              - id: \(keyName)
                algorithm: hmac-sha256
                secret: \(keySecret)
              - id: \(readOnlyKeyName)
                algorithm: hmac-sha256
                secret: \(readOnlyKeySecret)
            acl:
              - id: update
                key: \(keyName)
                action: update
            database:
                storage: "\(dir)/storage"
            zone:
              - domain: \(zone)
                storage: "\(dir)/zones"
                file: "\(zone).zone"
                acl: update
                zonefile-sync: -1
            log:
              - target: stderr
                any: info

            """
        try config.write(toFile: "\(dir)/knot.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/knotd")
        process.arguments = ["-c", "\(dir)/knot.conf"]
        let log = FileHandle(forWritingAtPath: "\(dir)/knot.log") ?? {
            FileManager.default.createFile(atPath: "\(dir)/knot.log", contents: nil)
            return FileHandle(forWritingAtPath: "\(dir)/knot.log")!
        }()
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Waits until the zone is served: a DNS query (no child process: spawning and waiting for
    /// one is what a loaded test run can least afford) gets the zone's `ns1` address back.
    public func waitUntilServing(timeout: Duration = .seconds(30)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let probe = AuthoritativeServer(server: DNSServer(host: host, port: port), zone: try DNSName(zone), record: try DNSName("ns1.\(zone)"),
                                        timeout: .milliseconds(500))
        while clock.now < deadline {
            if let answer = try? await probe.answer(), !answer.isEmpty { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw KnotError(message: "knotd did not serve \(zone) within \(timeout): \(log)")
    }

    /// A real query with Knot's own client, `+short` output.
    public func kdig(_ name: String, _ type: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/kdig")
        process.arguments = ["@\(host)", "-p", String(port), name, type, "+short", "+time=1", "+retry=0"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = Pipe()
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public var log: String { (try? String(contentsOfFile: "\(directory)/knot.log", encoding: .utf8)) ?? "" }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    private static func randomSecret() -> String {
        Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    public struct KnotError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
