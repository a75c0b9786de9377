import Foundation
import LifeboatTestSupport
import Testing

/// deploy/ansible: the sample inventory (two regions and a witness) applied with ansible-playbook
/// to this machine, each host into a scratch root of its own: the files, their owners and modes,
/// configs the binary accepts, no secret where it does not belong, and a second run (`--check
/// --diff`) that changes nothing.
@Suite(.serialized) struct AnsibleRoleTests {
    static let playbook = "/usr/bin/ansible-playbook"
    static let lint = "/usr/bin/ansible-lint"

    /// ansible-lint (Debian's) finds nothing to fix, at its strictest profile.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: lint), "needs ansible-lint (Debian's; scripts/test installs it)"))
    func theRolePassesAnsibleLint() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-ansible-lint-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let ansible = CLI.packageRoot.appendingPathComponent("deploy/ansible").path
        let (status, output) = try runTool("/usr/bin/env", ["-C", ansible, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=\(home.path)", "NO_COLOR=1",
                                                         Self.lint, "--offline", "--profile", "production"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("Passed"), "\(output)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: playbook), "needs ansible-playbook (Debian's ansible-core; scripts/test installs it)"))
    func theRoleInstallsEveryHostAndASecondRunChangesNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-ansible-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ansible = CLI.packageRoot.appendingPathComponent("deploy/ansible")
        let secrets = ["vault_lifeboat_agent_key": "k3y-0123456789abcdef0123456789abcdef", "vault_lifeboat_pg_password": "pg-s3cret",
                       "vault_lifeboat_api_token": "api-s3cret", "vault_linode_dns_token": "dns-s3cret", "vault_replicator_password": "rep-s3cret"]
        var vars: [String: Any] = ["ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3", "lifeboat_root_base": dir.path,
                                   "lifeboat_binary_src": CLI.binary.path, "lifeboat_manage_users": false, "lifeboat_manage_systemd": false,
                                   "lifeboat_user": "root", "lifeboat_group": "root", "lifeboat_pg_user": "root"]
        vars.merge(secrets) { $1 }
        let varsFile = dir.appendingPathComponent("vars.json")
        try JSONSerialization.data(withJSONObject: vars).write(to: varsFile)
        let base = ["-i", ansible.appendingPathComponent("inventory.example.yml").path, ansible.appendingPathComponent("site.yml").path, "-e", "@\(varsFile.path)"]

        let first = try runTool(Self.playbook, base)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("failed=0"), "\(first.output)")
        for secret in secrets.values { #expect(!first.output.contains(secret), "a secret in ansible's output") }

        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(path).path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
        // The monitor on the witness: its config (valid), secrets in the environment file only, the unit.
        #expect(try mode("witness/etc/lifeboat") == 0o750)
        #expect(try mode("witness/etc/lifeboat/lifeboat.yml") == 0o640)
        #expect(try mode("witness/etc/lifeboat/environment") == 0o600)
        #expect(try mode("witness/usr/local/bin/lifeboat") == 0o755)
        let monitorConfig = dir.appendingPathComponent("witness/etc/lifeboat/lifeboat.yml").path
        let validated = try runTool(CLI.binary.path, ["validate", monitorConfig])
        #expect(validated.status == 0 && validated.output.contains("2 database nodes"), "\(validated.output)")
        let config = try String(contentsOfFile: monitorConfig, encoding: .utf8)
        for secret in secrets.values { #expect(!config.contains(secret), "a secret in lifeboat.yml") }
        let environment = try String(contentsOf: dir.appendingPathComponent("witness/etc/lifeboat/environment"), encoding: .utf8)
        #expect(environment.contains("LIFEBOAT_AGENT_KEY=\(secrets["vault_lifeboat_agent_key"]!)") && environment.contains("LINODE_TOKEN=dns-s3cret"))
        #expect(try String(contentsOf: dir.appendingPathComponent("witness/etc/systemd/system/lifeboat-monitor.service"), encoding: .utf8)
            .contains("ExecStart=/usr/local/bin/lifeboat monitor"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("witness/etc/lifeboat/agent.yml").path))

        // Each database node: the agent's config (valid), its key and password root's alone, the
        // PostgreSQL settings, the replication password file.
        for node in ["pg-us-east-1", "pg-eu-west-1"] {
            #expect(try mode("\(node)/etc/lifeboat/agent.key") == 0o600)
            #expect(try mode("\(node)/etc/lifeboat/pg-password") == 0o600)
            #expect(try mode("\(node)/var/lib/postgresql/.pgpass") == 0o600)
            let agent = try runTool(CLI.binary.path, ["agent", "--validate", "--config", dir.appendingPathComponent("\(node)/etc/lifeboat/agent.yml").path])
            #expect(agent.status == 0 && agent.output.contains("valid: node \(node) in \(node.contains("us-east") ? "us-east" : "eu-west")"), "\(agent.output)")
            let settings = try String(contentsOf: dir.appendingPathComponent("\(node)/etc/postgresql/15/main/conf.d/lifeboat.conf"), encoding: .utf8)
            for line in ["wal_level = 'replica'", "wal_log_hints = 'on'", "hot_standby = 'on'", "max_slot_wal_keep_size = '20GB'"] {
                #expect(settings.contains(line), "\(line) missing from conf.d/lifeboat.conf")
            }
        }

        // Idempotent: a second run, checking with a diff, changes nothing.
        let second = try runTool(Self.playbook, base + ["--check", "--diff"])
        #expect(second.status == 0, "\(second.output)")
        let recap = second.output.split(separator: "\n").filter { $0.contains("ok=") && $0.contains("changed=") }
        #expect(recap.count == 3, "\(second.output)")
        #expect(recap.allSatisfy { $0.contains("changed=0") && $0.contains("failed=0") }, "\(recap)")

        // A missing or short agent key stops the play before anything is written.
        let short = try runTool(Self.playbook, base + ["-e", "vault_lifeboat_agent_key=short", "--limit", "witness"])
        #expect(short.status != 0 && short.output.contains("lifeboat_agent_key at least 32 characters"), "\(short.output)")
    }
}
