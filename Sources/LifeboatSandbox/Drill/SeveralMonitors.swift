import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatEtcd

/// Three monitors over a three-member etcd for a partition drill: a member and a `lifeboat monitor`
/// process in each region's namespace and at the witness, each monitor with its own lifeboat.yml
/// (written as an operator would, secrets in files). The primary region's monitor is started first
/// and leads before the others start.
struct SeveralMonitors: Sendable {
    let members: [LabProcess]
    let monitors: [LabProcess]
    /// Through the witness's member (which the drill's process always reaches), else the others.
    let witnessClient: EtcdClient
    let endpoints: [String]
    let leaderKey: String
    /// Each monitor's advertised API, in `monitors`' order.
    let apis: [String]

    static func start(cluster: SandboxCluster, lab: NetworkLab, binary: String, config: LifeboatConfiguration, witnessPort: Int,
                      agentKeyFile: String, processes: inout [LabProcess], progress: @Sendable (String) -> Void) async throws -> SeveralMonitors {
        // etcd: one member per region (client 2379, peer 2380 in its namespace) and one at the witness.
        let witnessClientPort = try FreePort.find(bindableOn: [lab.witnessAddress])
        var witnessPeerPort = try FreePort.find(bindableOn: [lab.witnessAddress])
        while witnessPeerPort == witnessClientPort || witnessPeerPort == witnessPort { witnessPeerPort = try FreePort.find(bindableOn: [lab.witnessAddress]) }
        let hosts = cluster.nodes.map { ($0.address, 2379, 2380) } + [(lab.witnessAddress, witnessClientPort, witnessPeerPort)]
        let names = hosts.indices.map { "e\($0)" }
        let initial = zip(names, hosts).map { "\($0)=http://\($1.0):\($1.2)" }.joined(separator: ",")
        var members: [LabProcess] = []
        for (index, host) in hosts.enumerated() {
            let directory = "\(cluster.directory)/etcd-\(index)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let prefix = index < cluster.nodes.count ? lab.exec(index) : []
            let member = try LabProcess(name: "etcd \(names[index])", role: .etcd, command: prefix + [
                EtcdServer.binary, "--name", names[index], "--data-dir", "\(directory)/data",
                "--listen-client-urls", "http://\(host.0):\(host.1)", "--advertise-client-urls", "http://\(host.0):\(host.1)",
                "--listen-peer-urls", "http://\(host.0):\(host.2)", "--initial-advertise-peer-urls", "http://\(host.0):\(host.2)",
                "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", lab.id, "--log-level", "error",
            ], logFile: "\(directory)/etcd.log")
            members.append(member)
            processes.append(member)
        }
        let endpoints = hosts.map { "http://\($0.0):\($0.1)" }
        // The witness's member first; the others when it is the one a scenario killed.
        let witnessClient = EtcdClient(endpoints: [endpoints[hosts.count - 1]] + endpoints.dropLast(), timeout: .seconds(1))
        let leaderKey = "/lifeboat/\(config.cluster)/leader"
        try await waitUntil(.seconds(30), "etcd answering at the witness") {
            do { _ = try await witnessClient.memberStatus(); return true } catch { return false }
        }
        progress("etcd: three members (\(endpoints.joined(separator: ", ")))")

        // The monitors' configs and secrets.
        let tsig = "\(cluster.directory)/tsig.secret", token = "\(cluster.directory)/api.token"
        guard case .rfc2136(let rfc)? = config.dns?.provider, case .inline(let secret) = rfc.keySecret,
              case .inline(let apiToken)? = config.api.token else {
            throw DrillFailure("the drill's monitor config has no inline DNS and API secrets to write out")
        }
        try write(secret.reveal(), to: tsig)
        try write(apiToken.reveal(), to: token)
        let listens = cluster.nodes.map { HostPort(host: $0.address, port: 8547) } + [HostPort(host: lab.witnessAddress, port: witnessPort)]
        var monitors: [LabProcess] = []
        for (index, listen) in listens.enumerated() {
            let directory = "\(cluster.directory)/monitor-\(index)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let file = "\(directory)/lifeboat.yml"
            try yaml(config, listen: listen, endpoints: endpoints, tsigFile: tsig, tokenFile: token, agentKeyFile: agentKeyFile)
                .write(toFile: file, atomically: true, encoding: .utf8)
            let prefix = index < cluster.nodes.count ? lab.exec(index) : []
            let monitor = try LabProcess(name: "monitor \(index) (\(listen.host))", role: .monitor,
                                         command: prefix + [binary, "monitor", "--config", file, "--state", "\(directory)/state.db", "--log-level", "notice"],
                                         logFile: "\(directory)/monitor.log")
            monitors.append(monitor)
            processes.append(monitor)
            if index == 0 {
                // The primary region's monitor leads before the others start.
                try await waitUntil(.seconds(30), "the primary region's monitor leading") {
                    do { return try await witnessClient.get(leaderKey) != nil } catch { return false }
                }
            }
        }
        progress("three monitors (\(listens.map(\.description).joined(separator: ", "))), the one in \(cluster.nodes[0].region) leading; etcd session \(PartitionDrill.sessionTTLSeconds) s")
        return SeveralMonitors(members: members, monitors: monitors, witnessClient: witnessClient, endpoints: endpoints, leaderKey: leaderKey,
                               apis: listens.map { "http://\($0)" })
    }

    /// Kills (SIGKILL) the monitor that leads now, as etcd's leader key names it: its name.
    func killLeader() async throws -> String {
        guard let entry = try await witnessClient.get(leaderKey),
              let leader = try? JSONDecoder().decode(EtcdLeadership.Leader.self, from: entry.value),
              let index = apis.firstIndex(of: leader.api) else {
            throw DrillFailure("etcd names no leading monitor of this drill")
        }
        monitors[index].crash()
        return monitors[index].name
    }

    /// Kills (SIGKILL) etcd's raft leader member: its name.
    func killRaftLeader() async throws -> String {
        for (index, endpoint) in endpoints.enumerated() {
            guard let status = try? await EtcdClient(endpoints: [endpoint], timeout: .seconds(1)).memberStatus(),
                  status.member == status.leader else { continue }
            members[index].crash()
            return members[index].name
        }
        throw DrillFailure("no etcd member says it is the raft leader")
    }

    static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw DrillFailure("cannot write \(path)")
        }
    }

    /// A monitor's lifeboat.yml, as an operator would write it for this lab.
    static func yaml(_ config: LifeboatConfiguration, listen: HostPort, endpoints: [String], tsigFile: String, tokenFile: String,
                     agentKeyFile: String) throws -> String {
        guard let dns = config.dns, case .rfc2136(let rfc) = dns.provider, let agents = config.agents else {
            throw DrillFailure("the drill's monitor config lacks DNS or agents")
        }
        let d = config.detection, f = config.failover
        let regions = config.topology.regions.map { "  - {name: \($0.name), priority: \($0.priority)}" }.joined(separator: "\n")
        let nodes = config.databaseNodes.map { node in
            "    - {name: \(node.name), region: \(node.region), host: \(node.host), port: \(node.port), user: \(node.user), dbname: \(node.database), agent: \"\(node.agent ?? "")\"}"
        }.joined(separator: "\n")
        let targets = dns.targets.sorted { $0.key < $1.key }.map { "    \($0.key): [\($0.value.map(\.description).joined(separator: ", "))]" }.joined(separator: "\n")
        return """
            version: 1
            cluster: \(config.cluster)
            regions:
            \(regions)
            database:
              nodes:
            \(nodes)
            detection:
              interval: \(DurationText.format(d.interval))
              timeout: \(DurationText.format(d.timeout))
              suspect_interval: \(DurationText.format(d.suspectInterval))
              failure_threshold: \(d.failureThreshold)
              recovery_threshold: \(d.recoveryThreshold)
            failover:
              automatic: \(f.automatic)
              max_lag_bytes: \(f.maxLagBytes)
              cooldown: \(DurationText.format(f.cooldown))
              lease_ttl: \(DurationText.format(f.leaseTTL ?? PartitionDrill.defaultLeaseTTL))
              failsafe: \(f.failsafe)
            dns:
              provider: rfc2136
              zone: \(dns.zone)
              record: \(dns.record)
              ttl: \(dns.ttl)
              targets:
            \(targets)
              verify:
                servers: [\(dns.verifyServers.map(\.description).joined(separator: ", "))]
              rfc2136:
                server: \(rfc.server)
                key_name: \(rfc.keyName)
                key_secret_file: \(tsigFile)
            api:
              listen: \(listen)
              token_file: \(tokenFile)
            agents:
              key_file: \(agentKeyFile)
              timeout: \(DurationText.format(agents.timeout))
              interval: \(DurationText.format(agents.interval))
            etcd:
              endpoints: [\(endpoints.joined(separator: ", "))]
              session_ttl: \(PartitionDrill.sessionTTLSeconds)s
              advertise: http://\(listen)

            """
    }

    static func waitUntil(_ timeout: Duration, _ what: String, _ condition: () async -> Bool) async throws {
        try await DrillTimeout.wait(timeout, what, poll: .milliseconds(50), condition)
    }
}
