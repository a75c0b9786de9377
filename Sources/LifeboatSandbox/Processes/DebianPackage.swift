import Foundation

/// A program the sandbox needs, installed from Debian's packages when missing and allowed (root).
public enum DebianPackage {
    public static func ensure(_ binaries: [String], packages: [String], install: Bool, log: @Sendable (String) -> Void) async throws {
        if binaries.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) { return }
        let list = packages.joined(separator: " ")
        guard install, CommandRunner.isRoot else {
            throw PostgresInstallation.NotInstalled(reason: "\(binaries.joined(separator: ", ")) not found. Install: sudo apt-get install -y \(list)")
        }
        log("\(binaries[0]) not found; installing Debian's \(list) (apt-get)…")
        try await aptInstall(packages)
    }

    /// `apt-get update` then `apt-get install -y` (as root, non-interactive).
    static func aptInstall(_ packages: [String]) async throws {
        let runner = CommandRunner()
        try await runner.run("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-q"], asUser: false)
        try await runner.run("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"] + packages, asUser: false)
    }
}
