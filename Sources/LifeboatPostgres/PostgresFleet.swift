import LifeboatConfig
import LifeboatCore
import LifeboatPorts
import Logging

/// The `DatabaseFleet` port over real PostgreSQL servers.
public struct PostgresFleet: DatabaseFleet {
    private let nodes: [String: PostgresNode]

    /// Resolves every node's password now, so a missing secret fails at start, not mid-failover.
    public init(nodes configs: [DatabaseNodeConfig], logger: Logger, environment: [String: String]? = nil) throws {
        var nodes: [String: PostgresNode] = [:]
        for config in configs {
            let password: Secret?
            do {
                password = try environment.map { try config.password?.resolve(environment: $0) } ?? config.password?.resolve()
            } catch {
                throw PostgresNodeError(node: config.name, operation: "read password", reason: "\(error)")
            }
            nodes[config.name] = PostgresNode(config: config, password: password, logger: logger)
        }
        self.nodes = nodes
    }

    public func node(_ name: String) throws -> PostgresNode {
        guard let node = nodes[name] else {
            throw PostgresNodeError(node: name, operation: "lookup", reason: "no such database node in the config")
        }
        return node
    }

    public func probe(_ node: String, timeout: Duration) async -> ProbeResult {
        guard let target = nodes[node] else { return .unreachable(ProbeFailure(.failed, "no such database node in the config")) }
        return await target.probe(timeout: timeout)
    }

    public func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome {
        try await self.node(node).fence(timeout: timeout, connectTimeout: connectTimeout)
    }

    public func promote(_ node: String, epoch: Epoch, timeout: Duration) async throws -> String {
        try await self.node(node).promote(timeout: timeout)
    }

    public func waitWritable(_ node: String, timeout: Duration) async throws -> String {
        try await self.node(node).waitWritable(timeout: timeout)
    }

    public func waitCaughtUp(_ node: String, primary: String, epoch: Epoch, timeout: Duration) async throws -> String {
        let clock = ContinuousClock()
        let start = clock.now
        guard let target = try await self.node(primary).probe(timeout: timeout).status?.currentLSN else {
            throw PostgresNodeError(node: primary, operation: "catch-up", reason: "cannot read the fenced primary's WAL position")
        }
        let standby = try self.node(node)
        var last = "no answer"
        while start.duration(to: clock.now) < timeout {
            if let status = await standby.probe(timeout: timeout).status, let replayed = status.replayLSN ?? status.currentLSN {
                if replayed >= target {
                    return "replayed up to \(replayed), the old primary's last position is \(target) (after \(DurationText.format(start.duration(to: clock.now))))"
                }
                last = "replayed \(replayed) of \(target)"
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw PostgresNodeError(node: node, operation: "catch-up", reason: "not caught up within \(DurationText.format(timeout)) (\(last))")
    }

    /// Points `node` at the new primary. A standby streaming through a slot (`primary_slot_name`)
    /// finds that slot on the new primary first (slots are not replicated), so its WAL receiver
    /// connects at once instead of failing and retrying after `wal_retrieve_retry_interval`.
    public func repoint(_ node: String, toPrimary primary: String, timeout: Duration) async throws -> String {
        let target = try self.node(primary)
        let standby = try self.node(node)
        var made = ""
        if let slot = try? await standby.primarySlotName(timeout: timeout), !slot.isEmpty {
            do {
                try await target.createPhysicalSlot(slot, timeout: timeout)
                made = "; slot \(slot) on \(primary)"
            } catch {
                made = "; slot \(slot) not made on \(primary) (\(PostgresNodeError.classify(error).detail)): it streams once the monitor makes it"
            }
        }
        return try await standby.repoint(toHost: target.config.host, port: target.config.port, timeout: timeout) + made
    }

    public func shutdown() async {
        for node in nodes.values { await node.close() }
    }
}
