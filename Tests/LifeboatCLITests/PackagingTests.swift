import Foundation
import LifeboatTestSupport
import Testing

/// `scripts/package`: the tarball and the Debian package hold what an operator needs, and the
/// package installs with dpkg (into a scratch root with its own dpkg database) and runs.
@Suite(.serialized) struct PackagingTests {
    static let enabled = FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb") && FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg")

    @Test(.enabled(if: enabled, "needs dpkg and dpkg-deb (Debian)"))
    func theTarballAndTheDebInstallAndRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-package-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = CLI.packageRoot.appendingPathComponent("scripts/package").path
        // The debug binary stands in for the release build (which takes minutes): same packaging.
        let (status, output) = try runTool("/bin/bash", [script, "--binary", CLI.binary.path, "--out", dir.path, "--fast"])
        #expect(status == 0, "\(output)")
        let version = try runTool(CLI.binary.path, ["--version"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let arch = try runTool("/usr/bin/dpkg", ["--print-architecture"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let tarball = dir.appendingPathComponent("lifeboat-\(version)-linux-\(arch).tar.gz").path
        let deb = dir.appendingPathComponent("lifeboat_\(version)_\(arch).deb").path
        #expect(output.split(separator: "\n").map(String.init) == [tarball, deb], "\(output)")

        // The tarball: binary, units, example configs, alert rules, dashboard, docs.
        let listing = Set(try runTool("/bin/tar", ["-tzf", tarball]).output.split(separator: "\n").map(String.init))
        let top = "lifeboat-\(version)-linux-\(arch)/"
        for file in ["bin/lifeboat", "systemd/lifeboat-monitor.service", "systemd/lifeboat-agent.service", "share/examples/lifeboat.yml",
                     "share/examples/agent.yml", "share/prometheus/alerts.yml", "share/grafana/lifeboat-dashboard.json",
                     "share/tls/make-certs.sh", "doc/docs/operations.md", "doc/docs/api.yaml", "INSTALL"] {
            #expect(listing.contains(top + file), "\(file) missing from the tarball")
        }

        // The .deb's fields, and dependencies that name real packages of this Debian.
        let fields = try runTool("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Architecture", "Depends"]).output
        #expect(fields.contains("Package: lifeboat") && fields.contains("Version: \(version)") && fields.contains("Architecture: \(arch)"), "\(fields)")
        let depends = fields.split(separator: "\n").first { $0.hasPrefix("Depends:") }.map { line in
            line.dropFirst("Depends:".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0] }.map(String.init)
        } ?? []
        #expect(depends.contains("libsqlite3-0") && depends.contains("libmariadb3"), "\(depends)")
        // Every library the binary loads, other than the Swift toolchain's (linked in statically by
        // a release build), comes from a package the .deb depends on.
        let ldd = try runTool("/usr/bin/ldd", [CLI.binary.path]).output
        for line in ldd.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard let arrow = parts.firstIndex(of: "=>"), arrow + 1 < parts.count, parts[arrow + 1].hasPrefix("/"), !parts[arrow + 1].hasPrefix("/opt/") else { continue }
            let path = URL(fileURLWithPath: String(parts[arrow + 1])).resolvingSymlinksInPath().path
            var owner = try runTool("/usr/bin/dpkg", ["-S", path])
            if owner.status != 0, path.hasPrefix("/usr/lib/") { owner = try runTool("/usr/bin/dpkg", ["-S", String(path.dropFirst(4))]) }
            if owner.status != 0, path.hasPrefix("/lib/") { owner = try runTool("/usr/bin/dpkg", ["-S", "/usr" + path]) }
            guard owner.status == 0, let package = owner.output.split(separator: ":").first.map(String.init) else { continue }
            #expect(depends.contains(package) || package == "libc6" && depends.contains("libc6"), "\(path) comes from \(package), not in Depends: \(depends)")
        }

        // Installed with dpkg into a scratch root (its own, empty dpkg database; maintainer scripts
        // run with DPKG_ROOT): the binary runs, the units name it, postinst made the directories.
        let root = dir.appendingPathComponent("root")
        for sub in ["var/lib/dpkg/updates", "var/lib/dpkg/info"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        FileManager.default.createFile(atPath: root.appendingPathComponent("var/lib/dpkg/status").path, contents: Data())
        let install = try runTool("/usr/bin/dpkg", ["--root=\(root.path)", "--force-script-chrootless", "--force-depends", "--force-not-root",
                                                    "--log=/dev/null", "-i", deb])
        #expect(install.status == 0, "\(install.output)")
        #expect(install.output.contains("Setting up lifeboat (\(version))"), "\(install.output)")
        let installed = root.appendingPathComponent("usr/bin/lifeboat").path
        #expect(try runTool(installed, ["--version"]).output.trimmingCharacters(in: .whitespacesAndNewlines) == version)
        let example = try runTool(installed, ["validate", root.appendingPathComponent("usr/share/lifeboat/examples/lifeboat.yml").path])
        #expect(example.status == 0 && example.output.contains("valid: cluster"), "the shipped example is valid for the shipped binary: \(example.output)")
        let unit = try String(contentsOf: root.appendingPathComponent("lib/systemd/system/lifeboat-monitor.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/lifeboat monitor --config /etc/lifeboat/lifeboat.yml"))
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("etc/lifeboat").path, isDirectory: &isDirectory) && isDirectory.boolValue)
        let query = try runTool("/usr/bin/dpkg-query", ["--admindir=\(root.path)/var/lib/dpkg", "-W", "-f=${Status} ${Version}", "lifeboat"])
        #expect(query.output == "install ok installed \(version)", "\(query.output)")
        // And removed again, leaving nothing of its files.
        let purge = try runTool("/usr/bin/dpkg", ["--root=\(root.path)", "--force-script-chrootless", "--force-not-root", "--log=/dev/null", "--purge", "lifeboat"])
        #expect(purge.status == 0, "\(purge.output)")
        #expect(!FileManager.default.fileExists(atPath: installed))

        // A wrong argument is refused with a message, and nothing is written.
        let bad = try runTool("/bin/bash", [script, "--bogus"])
        #expect(bad.status == 2 && bad.output.contains("unknown argument '--bogus'"), "\(bad.output)")
    }
}
