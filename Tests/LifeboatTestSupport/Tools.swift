import Foundation

/// Runs a command-line tool to its end: its exit status and its output and error together.
public func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}

/// A CA and certificates made by deploy/tls/make-certs.sh, the script docs/operations.md tells
/// operators to run.
public struct TestCertificates: Sendable {
    public let directory: String
    public var ca: String { "\(directory)/ca.crt" }
    public func cert(_ name: String) -> String { "\(directory)/\(name).crt" }
    public func key(_ name: String) -> String { "\(directory)/\(name).key" }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/tls/make-certs.sh").path

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A fresh CA (in `directory`, or a new temporary one) and a certificate for each `name=address,...`.
    public static func make(_ specs: [String], directory: String? = nil) throws -> TestCertificates {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-tls-\(UUID().uuidString)").path
        let (status, output) = try runTool("/bin/bash", [script, directory] + specs)
        guard status == 0 else { throw Failure(description: "make-certs.sh failed: \(output)") }
        return TestCertificates(directory: directory)
    }
}
