#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Regions with networks of their own, for partition drills: one network namespace per region
/// (its own `eth0`, its own address, its own port space), all joined by a bridge in a hub
/// namespace, and a veth into this process's namespace for the "witness" region where the monitor
/// and the DNS server run. Addresses come from a 10.213.N.0/24 reserved for this lab (a lock file
/// per /24, like `LoopbackBlock`), so two drills never share one. A region is cut silently with
/// nftables drop rules inside its namespace (no RST, no ICMP: packets vanish, as in a real
/// partition); there is no `tc netem` on this kernel, so no latency is added.
///
/// Nothing here routes anywhere but the lab's own /24: the namespaces have no default route.
public final class NetworkLab: Sendable {
    /// `lbXXXX`: the prefix of every namespace and interface this lab makes.
    public let id: String
    /// `10.213.N`
    public let subnet: String
    public let regions: [String]
    private let lock: LoopbackBlock.Lock
    /// Held while this lab exists: a lab whose lock is free was left behind by a process that died.
    private let idLock: LoopbackBlock.Lock
    private let runner = CommandRunner()
    /// Regions with a cut in place (their nftables table exists).
    private let cutRegions = Mutex<Set<Int>>([])

    public static let ip = "/usr/sbin/ip"
    public static let nft = "/usr/sbin/nft"

    /// Where the monitor, the DNS server and the drill itself are: this process's own namespace.
    public var witnessAddress: String { "\(subnet).250" }
    public var hubNamespace: String { "\(id)-hub" }
    public func namespace(_ region: Int) -> String { "\(id)-r\(region)" }
    public func address(_ region: Int) -> String { "\(subnet).\(region + 1)" }
    /// `ip netns exec NS`: the prefix that runs a command inside region `region`.
    public func exec(_ region: Int) -> [String] { [Self.ip, "netns", "exec", namespace(region)] }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Why partition drills cannot run here.
    public enum Obstacle: Sendable, Equatable, CustomStringConvertible {
        case notRoot
        /// A tool is missing; apt-get can install `package`.
        case missingTool(path: String, package: String)

        public var description: String {
            switch self {
            case .notRoot: "partition drills build network namespaces and need root"
            case .missingTool(let path, let package): "\(path) is missing (apt-get install -y \(package))"
            }
        }
    }

    /// What stops partition drills here, or nil when they can run (root, `ip`, `nft`).
    public static func unavailable() -> Obstacle? {
        if geteuid() != 0 { return .notRoot }
        if !FileManager.default.isExecutableFile(atPath: ip) { return .missingTool(path: ip, package: "iproute2") }
        if !FileManager.default.isExecutableFile(atPath: nft) { return .missingTool(path: nft, package: "nftables") }
        return nil
    }

    /// Installs nftables when missing and allowed.
    public static func ensureTools(install: Bool, log: @Sendable (String) -> Void) async throws {
        try await DebianPackage.ensure([ip, nft], packages: ["iproute2", "nftables"], install: install, log: log)
    }

    /// Builds the namespaces, the bridge and the veths; on any failure removes what it made.
    public static func create(regions: [String]) async throws -> NetworkLab {
        if let why = unavailable() { throw Unavailable(description: why.description) }
        await reapAbandoned()
        let (subnet, lock) = try reserveSubnet()
        var taken: (String, LoopbackBlock.Lock)?
        for _ in 0..<100 {
            let id = "lb" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
            if let idLock = LoopbackBlock.Lock.take("lab-\(id)") { taken = (id, idLock); break }
        }
        guard let (id, idLock) = taken else { throw Unavailable(description: "no free network lab id after 100 tries") }
        let lab = NetworkLab(id: id, subnet: subnet, regions: regions, lock: lock, idLock: idLock)
        do {
            try await lab.build()
        } catch {
            await lab.destroy()
            throw error
        }
        return lab
    }

    private init(id: String, subnet: String, regions: [String], lock: LoopbackBlock.Lock, idLock: LoopbackBlock.Lock) {
        self.idLock = idLock
        self.id = id
        self.subnet = subnet
        self.regions = regions
        self.lock = lock
    }

    private func ip(_ arguments: String...) async throws {
        try await runner.run(Self.ip, arguments, asUser: false)
    }

    private func build() async throws {
        let hub = hubNamespace
        try await ip("netns", "add", hub)
        try await ip("-n", hub, "link", "set", "lo", "up")
        try await ip("-n", hub, "link", "add", "br0", "type", "bridge")
        try await ip("-n", hub, "link", "set", "br0", "up")
        for index in regions.indices {
            let ns = namespace(index)
            let inside = "\(id)-v\(index)", port = "\(id)-h\(index)"
            try await ip("netns", "add", ns)
            try await ip("link", "add", inside, "type", "veth", "peer", "name", port)
            try await ip("link", "set", inside, "netns", ns)
            try await ip("link", "set", port, "netns", hub)
            try await ip("-n", hub, "link", "set", port, "master", "br0", "up")
            try await ip("-n", ns, "link", "set", inside, "name", "eth0")
            try await ip("-n", ns, "addr", "add", "\(address(index))/24", "dev", "eth0")
            try await ip("-n", ns, "link", "set", "eth0", "up")
            try await ip("-n", ns, "link", "set", "lo", "up")
        }
        let witness = "\(id)-w", port = "\(id)-hw"
        try await ip("link", "add", witness, "type", "veth", "peer", "name", port)
        try await ip("link", "set", port, "netns", hub)
        try await ip("-n", hub, "link", "set", port, "master", "br0", "up")
        try await ip("addr", "add", "\(witnessAddress)/24", "dev", witness)
        try await ip("link", "set", witness, "up")
        // The bridge runs without STP: it forwards as soon as its ports are up (the cluster's start,
        // a pg_basebackup from the witness, is the first thing to cross it).
    }

    /// What a cut drops.
    public enum Cut: Sendable, Equatable {
        /// Everything in and out of the region: a silent isolation.
        case everything
        /// Only traffic between the region and these addresses.
        case only([String])
    }

    /// Cuts region `index` silently (nftables drop in its namespace, both ways). Replaces an earlier cut.
    public func cut(_ index: Int, _ cut: Cut) async throws {
        let match: (String) -> String = { direction in
            switch cut {
            case .everything: return direction == "input" ? "iifname \"eth0\" drop" : "oifname \"eth0\" drop"
            case .only(let addresses):
                let set = "{ " + addresses.joined(separator: ", ") + " }"
                return direction == "input" ? "ip saddr \(set) drop" : "ip daddr \(set) drop"
            }
        }
        let rules = """
            table inet lifeboat_cut {
              chain input { type filter hook input priority 0; policy accept; \(match("input")); }
              chain output { type filter hook output priority 0; policy accept; \(match("output")); }
            }

            """
        try await heal(index)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(id)-cut-\(index).nft").path
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await runner.run(Self.ip, ["netns", "exec", namespace(index), Self.nft, "-f", file], asUser: false)
        cutRegions.withLock { _ = $0.insert(index) }
    }

    /// Lifts any cut of region `index`.
    public func heal(_ index: Int) async throws {
        guard cutRegions.withLock({ $0.contains(index) }) else { return }
        try await runner.run(Self.ip, ["netns", "exec", namespace(index), Self.nft, "delete", "table", "inet", "lifeboat_cut"], asUser: false)
        cutRegions.withLock { _ = $0.remove(index) }
    }

    /// Removes the namespaces (their veths go with them) and the witness veth. Processes still
    /// running in a namespace keep it alive until they exit: stop them first.
    public func destroy() async {
        _ = try? await runner.run(Self.ip, ["link", "del", "\(id)-w"], asUser: false)
        for index in regions.indices { _ = try? await runner.run(Self.ip, ["netns", "del", namespace(index)], asUser: false) }
        _ = try? await runner.run(Self.ip, ["netns", "del", hubNamespace], asUser: false)
        lock.release()
        idLock.release()
    }

    /// Removes labs whose process died without cleaning up (their id lock is free): kills what
    /// still runs in their namespaces (agents, clients, PostgreSQL) and deletes the namespaces.
    static func reapAbandoned() async {
        let runner = CommandRunner()
        guard let list = try? await runner.run(ip, ["netns", "list"], asUser: false) else { return }
        let names = list.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        let labs = Set(names.compactMap { name -> String? in
            let parts = name.split(separator: "-")
            guard parts.count == 2, parts[0].count == 6, parts[0].hasPrefix("lb"), parts[0].dropFirst(2).allSatisfy(\.isHexDigit) else { return nil }
            return String(parts[0])
        })
        for id in labs {
            guard let lock = LoopbackBlock.Lock.take("lab-\(id)") else { continue }  // alive
            for name in names where name.hasPrefix("\(id)-") {
                let pids = (try? await runner.run(ip, ["netns", "pids", name], asUser: false)) ?? ""
                for pid in pids.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) { kill(pid, SIGKILL) }
                _ = try? await runner.run(ip, ["netns", "del", name], asUser: false)
            }
            _ = try? await runner.run(ip, ["link", "del", "\(id)-w"], asUser: false)
            lock.release()
        }
    }

    /// A free 10.213.N.0/24: not routed here already and not locked by another lab.
    private static func reserveSubnet() throws -> (String, LoopbackBlock.Lock) {
        let routes = (try? String(contentsOfFile: "/proc/net/route", encoding: .utf8)) ?? ""
        for _ in 0..<300 {
            let third = Int.random(in: 0...255)
            let subnet = "10.213.\(third)"
            // /proc/net/route holds destinations in little-endian hex: 10.213.N.0 -> 00 N D5 0A.
            let hex = String(format: "00%02X%02X%02X", third, 213, 10)
            if routes.contains(hex) { continue }
            if let lock = LoopbackBlock.Lock.take("net-\(subnet)") { return (subnet, lock) }
        }
        throw Unavailable(description: "no free 10.213.N.0/24 for a network lab after 300 tries (see \(LoopbackBlock.lockDirectory))")
    }
}
