/// `replication_slots:`: the physical replication slots Lifeboat keeps on the primary, one per
/// other database node, so a standby that falls behind (or a former primary waiting to rejoin)
/// never finds the WAL it needs recycled.
public struct SlotPolicy: Sendable, Equatable {
    /// False with `replication_slots: {managed: false}`: Lifeboat creates, drops and points no slot.
    public var managed: Bool
    /// A slot holding more WAL than this on the primary raises `LifeboatReplicationSlotRetainingWAL`.
    public var alertRetainedBytes: UInt64

    public init(managed: Bool = true, alertRetainedBytes: UInt64 = 1 << 30) {
        self.managed = managed
        self.alertRetainedBytes = alertRetainedBytes
    }

    public static let `default` = SlotPolicy()
}

/// One slot as `pg_replication_slots` shows it on the primary, in typed form.
public struct ReplicationSlot: Sendable, Equatable, Codable {
    /// `wal_status`: whether the WAL the slot needs is still there.
    public enum WALStatus: String, Sendable, Equatable, Codable {
        case reserved, extended, unreserved, lost, unknown
    }

    public var name: String
    public var physical: Bool
    public var temporary: Bool
    public var active: Bool
    public var walStatus: WALStatus
    /// The primary's current WAL position minus the slot's `restart_lsn` (nil: the slot holds none).
    public var retainedBytes: UInt64?

    public init(name: String, physical: Bool = true, temporary: Bool = false, active: Bool, walStatus: WALStatus = .reserved, retainedBytes: UInt64? = nil) {
        self.name = name
        self.physical = physical
        self.temporary = temporary
        self.active = active
        self.walStatus = walStatus
        self.retainedBytes = retainedBytes
    }
}

/// Slot names and what to change on a primary so it holds exactly one Lifeboat slot per other node.
public enum ReplicationSlots {
    public static let prefix = "lifeboat_"

    /// The slot a node streams through: `lifeboat_` and the node's name in lower case with every
    /// character PostgreSQL does not allow in a slot name (letters, digits, `_`) made `_`. A name
    /// that would pass 63 characters keeps its first 45 and a hash of the whole name.
    public static func name(for node: String) -> String {
        var body = String(String.UnicodeScalarView(node.lowercased().unicodeScalars.map { c in
            (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "_" ? c : "_"
        }))
        if prefix.count + body.count > 63 {
            var hash: UInt32 = 2_166_136_261
            for byte in node.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            let hex = String(hash, radix: 16)
            body = String(body.prefix(45)) + "_" + String(repeating: "0", count: 8 - hex.count) + hex
        }
        return prefix + body
    }

    /// Nodes whose slot names coincide (`pg-a` and `pg_a`): each group is a configuration error
    /// while slots are managed.
    public static func collisions(_ nodes: [String]) -> [[String]] {
        var byName: [String: [String]] = [:]
        // The same name twice is a duplicate node, said elsewhere.
        for node in Set(nodes) { byName[name(for: node), default: []].append(node) }
        return byName.values.filter { $0.count > 1 }.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }

    public struct Plan: Sendable, Equatable {
        /// Slots to create on the primary (names), in node order.
        public var create: [String] = []
        /// Lifeboat's slots for no node that should have one here (a removed node, or the primary's
        /// own from an earlier term), not in use: to drop.
        public var drop: [String] = []
        /// Lifeboat's slots to drop that a walsender still uses: left for the next round.
        public var busy: [String] = []
        public var isEmpty: Bool { create.isEmpty && drop.isEmpty }
    }

    /// What to change on `primary`, given the database nodes and the slots it has. Only physical,
    /// permanent slots named `lifeboat_…` are Lifeboat's; any other slot is left alone.
    public static func plan(primary: String, nodes: [String], existing: [ReplicationSlot]) -> Plan {
        let wanted = nodes.filter { $0 != primary }.map(name(for:))
        let have = Set(existing.map(\.name))
        var plan = Plan()
        plan.create = wanted.filter { !have.contains($0) }
        for slot in existing where slot.name.hasPrefix(prefix) && slot.physical && !slot.temporary && !wanted.contains(slot.name) {
            if slot.active { plan.busy.append(slot.name) } else { plan.drop.append(slot.name) }
        }
        return plan
    }
}
