import Foundation

/// Finds PostgreSQL's server binaries, installing Debian's package when allowed.
public struct PostgresInstallation: Sendable {
    public var binDirectory: String
    public var version: Int

    public func tool(_ name: String) -> String { "\(binDirectory)/\(name)" }

    public struct NotInstalled: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The newest `/usr/lib/postgresql/N/bin` that has `initdb` and `pg_ctl`.
    public static func locate(root: String = "/usr/lib/postgresql") -> PostgresInstallation? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root))?.compactMap(Int.init).sorted(by: >) ?? []
        for version in versions {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(bin)/initdb"), FileManager.default.isExecutableFile(atPath: "\(bin)/pg_ctl") {
                return PostgresInstallation(binDirectory: bin, version: version)
            }
        }
        return nil
    }

    /// Finds PostgreSQL, or installs it with apt-get when this process is root and `install` is set.
    public static func ensure(install: Bool, log: @Sendable (String) -> Void) async throws -> PostgresInstallation {
        if let found = locate() { return found }
        guard install else {
            throw NotInstalled(reason: "PostgreSQL server binaries not found under /usr/lib/postgresql. Install them with: sudo apt-get install -y postgresql")
        }
        guard CommandRunner.isRoot else {
            throw NotInstalled(reason: "PostgreSQL server binaries not found under /usr/lib/postgresql, and installing needs root. Run: sudo apt-get install -y postgresql")
        }
        log("PostgreSQL not found; installing Debian's postgresql package (apt-get)…")
        do {
            try await DebianPackage.aptInstall(["postgresql"])
        } catch {
            throw NotInstalled(reason: "installing PostgreSQL with apt-get failed: \(error)")
        }
        guard let found = locate() else {
            throw NotInstalled(reason: "apt-get installed postgresql but no server binaries appeared under /usr/lib/postgresql")
        }
        return found
    }
}
