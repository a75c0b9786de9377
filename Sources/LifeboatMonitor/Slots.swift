import LifeboatConfig
import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatPostgres
import Logging
import Metrics
import ServiceLifecycle

/// Keeps one physical replication slot per other database node on the primary the leading monitor
/// watches (`replication_slots:`), points each standby's `primary_slot_name` at its own, drops
/// Lifeboat's slots of nodes no longer configured, and reports the WAL each slot holds back.
///
/// A slot is created on a new primary as soon as the monitor watches it, so the old primary's slot
/// keeps the WAL from (about) the promotion on: a rejoin with pg_rewind then finds what it needs.
public actor SlotManager: Service {
    let policy: SlotPolicy
    let slot: EngineSlot
    let nodes: [String: PostgresNode]
    let topology: Topology
    let logger: Logger
    let every: Duration
    /// The primary whose slots were last read, and when standbys' `primary_slot_name` was last checked.
    private var watched: String?
    private var readAt: ContinuousClock.Instant?
    private var settled = false
    private var standbysCheckedAt: ContinuousClock.Instant?
    private var over: Set<String> = []
    private var lost: Set<String> = []
    private var failing: String?
    private var gauges: [String: (retained: Gauge, active: Gauge)] = [:]
    private let limit = Gauge(label: "lifeboat_replication_slot_retained_bytes_limit")

    init(policy: SlotPolicy, slot: EngineSlot, nodes: [String: PostgresNode], topology: Topology, logger: Logger,
         every: Duration = .seconds(1)) {
        self.policy = policy
        self.slot = slot
        self.nodes = nodes
        self.topology = topology
        self.logger = logger
        self.every = every
    }

    public func run() async throws {
        limit.record(Double(policy.alertRetainedBytes))
        await everyRound(every, closing: nodes) { await self.round() }
    }

    /// Makes sure `node`'s slot exists on `primary` before a rejoin or replica init streams through it.
    public func ensure(node: String, on primary: String) async throws -> String {
        let name = ReplicationSlots.name(for: node)
        guard let server = nodes[primary] else { return name }
        try await server.createPhysicalSlot(name, timeout: .seconds(2))
        return name
    }

    func round() async {
        guard let engine = slot.engine, case .monitoring(let primary) = await engine.state, let server = nodes[primary] else { return }
        // Each round while the primary is new or something is left to do; every 10 s otherwise
        // (a connection each time: kept rare).
        let now = ContinuousClock.now
        if watched == primary, settled, let readAt, readAt.duration(to: now) < .seconds(10) { return }
        readAt = now
        let names = topology.databaseNodes.map(\.name)
        let existing: [ReplicationSlot]
        do {
            existing = try await server.replicationSlots(timeout: .seconds(2))
        } catch {
            complain(primary, "cannot read the replication slots on \(primary): \(error)")
            return
        }
        let plan = ReplicationSlots.plan(primary: primary, nodes: names, existing: existing)
        var lines: [(JournalKind, String)] = []
        for name in plan.create {
            do {
                try await server.createPhysicalSlot(name, timeout: .seconds(2))
                let node = names.first { ReplicationSlots.name(for: $0) == name } ?? name
                lines.append((.decision, "replication slot \(name) created on \(primary): it keeps the WAL \(node) needs from now on"))
            } catch {
                complain(primary, "cannot create replication slot \(name) on \(primary): \(error)")
            }
        }
        for name in plan.drop {
            do {
                try await server.dropSlot(name, timeout: .seconds(2))
                lines.append((.decision, "replication slot \(name) dropped on \(primary): no configured node other than the primary streams through it"))
            } catch {
                complain(primary, "cannot drop replication slot \(name) on \(primary): \(error)")
            }
        }
        if plan.create.isEmpty, plan.drop.isEmpty, failing == primary { failing = nil }
        settled = plan.isEmpty && plan.busy.isEmpty
        lines += account(existing.filter { $0.name.hasPrefix(ReplicationSlots.prefix) && $0.physical && !$0.temporary && !plan.drop.contains($0.name) },
                         primary: primary)

        if watched != primary || standbysCheckedAt.map({ $0.duration(to: now) >= .seconds(10) }) ?? true {
            watched = primary
            standbysCheckedAt = now
            let health = await engine.health
            for node in names where node != primary {
                guard health[node]?.currentStatus?.inRecovery == true, let standby = nodes[node] else { continue }
                let name = ReplicationSlots.name(for: node)
                do {
                    let before = try await standby.setPrimarySlotName(name, timeout: .seconds(2))
                    if before != name {
                        lines.append((.decision, "primary_slot_name on \(node): '\(before)' -> '\(name)' (its WAL receiver reconnects through its slot on \(primary))"))
                    }
                } catch {
                    logger.warning("cannot set primary_slot_name on \(node): \(error)")
                }
            }
        }
        if !lines.isEmpty { await engine.journalLines(lines) }
    }

    /// Metrics for the primary's Lifeboat slots; journal lines when one starts or stops holding
    /// more WAL than the alert limit, or loses WAL its standby needs.
    private func account(_ slots: [ReplicationSlot], primary: String) -> [(JournalKind, String)] {
        var lines: [(JournalKind, String)] = []
        let present = Set(slots.map(\.name))
        for (name, gauge) in gauges where !present.contains(name) {
            gauge.retained.record(0)
            gauge.active.record(0)
            over.remove(name)
            lost.remove(name)
        }
        for s in slots {
            let gauge = gauges[s.name] ?? (Gauge(label: "lifeboat_replication_slot_retained_bytes", dimensions: [("slot", s.name)]),
                                           Gauge(label: "lifeboat_replication_slot_active", dimensions: [("slot", s.name)]))
            gauges[s.name] = gauge
            let retained = s.retainedBytes ?? 0
            gauge.retained.record(Double(retained))
            gauge.active.record(s.active ? 1 : 0)
            if retained > policy.alertRetainedBytes, !over.contains(s.name) {
                over.insert(s.name)
                lines.append((.alert(.warning), "replication slot \(s.name) on \(primary) holds \(ByteCount(retained)) of WAL (alert at \(ByteCount(policy.alertRetainedBytes)))\(s.active ? "" : ": its node is not streaming; lifeboat rejoin, or remove the node from the config to drop the slot")"))
            } else if retained <= policy.alertRetainedBytes, over.remove(s.name) != nil {
                lines.append((.alert(.info), "replication slot \(s.name) on \(primary) holds \(ByteCount(retained)) of WAL again"))
            }
            if s.walStatus == .lost, !lost.contains(s.name) {
                lost.insert(s.name)
                let node = topology.databaseNodes.map(\.name).first { ReplicationSlots.name(for: $0) == s.name } ?? s.name
                lines.append((.alert(.critical), "replication slot \(s.name) on \(primary) lost WAL its standby needs (max_slot_wal_keep_size): \(node) can come back only with lifeboat replica init \(node)"))
            } else if s.walStatus != .lost { lost.remove(s.name) }
        }
        return lines
    }

    private func complain(_ primary: String, _ text: String) {
        if failing != primary {
            failing = primary
            logger.warning("\(text)")
        }
    }
}
