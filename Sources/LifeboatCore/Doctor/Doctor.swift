/// What `lifeboat doctor` learned of one PostgreSQL node.
public struct NodeFacts: Sendable, Equatable, Codable {
    public struct Setting: Sendable, Equatable, Codable {
        /// `pg_settings.setting`, in the setting's base unit.
        public var value: String
        /// `pg_settings.unit` ("ms", "s", "" …).
        public var unit: String
        public init(value: String, unit: String = "") {
            self.value = value
            self.unit = unit
        }

        /// A time setting in seconds (nil: not a time, or -1/0 meaning "off").
        public var seconds: Double? {
            guard let number = Double(value) else { return nil }
            switch unit {
            case "ms": return number / 1000
            case "s": return number
            case "min": return number * 60
            default: return nil
            }
        }

        public var isOn: Bool { value == "on" }
    }

    public struct Slot: Sendable, Equatable, Codable {
        public var name: String
        public var active: Bool
        public init(name: String, active: Bool) {
            self.name = name
            self.active = active
        }
    }

    public var node: String
    public var reachable = false
    public var error: String?
    public var inRecovery: Bool?
    public var superuser: Bool?
    /// The server's clock minus this machine's, in seconds.
    public var clockOffsetSeconds: Double?
    public var serverVersion: Int?
    public var settings: [String: Setting] = [:]
    public var replicationSlots: [Slot]?
    /// `pg_hba_file_rules` (nil: not readable by the monitor's user).
    public var hbaRules: [HBARule]?
    /// Login roles with REPLICATION that are not superusers, each with what pg_rewind (run by a
    /// rejoining node with that role against this server) would lack: EXECUTE on the functions it
    /// reads files with, and `pg_checkpoint`. Roles lacking nothing are absent. Nil: not checked.
    public var rewindGrantsMissing: [String: [String]]?

    /// One line of pg_hba.conf as PostgreSQL parsed it, in typed form.
    public struct HBARule: Sendable, Equatable, Codable {
        /// Connections over TCP (`host*`) or the unix socket (`local`).
        public enum Transport: Sendable, Equatable, Codable { case local, tcp }
        /// What the ADDRESS column matches.
        public enum Source: Sendable, Equatable, Codable {
            /// `all`, `samehost`, `samenet`, a host name or an IPv6 network: not narrowed here.
            case unchecked
            case network(IPv4, prefix: Int)
            case none
        }

        public var line: Int
        public var transport: Transport
        /// The DATABASE column names the `replication` keyword (`all` does not cover replication).
        public var replication: Bool
        public var source: Source
        public var error: String?

        /// Translates pg_hba_file_rules' columns (`type`, `database`, `address`, `netmask`).
        public init(line: Int, type: String, databases: [String], users: [String], address: String?, netmask: String?, error: String?) {
            self.line = line
            self.transport = type == "local" ? .local : .tcp
            self.replication = databases.contains("replication")
            self.error = error
            switch address {
            case nil: source = .none
            case let text?:
                if let ip = IPv4(text) {
                    if let netmask {
                        source = IPv4(netmask).map { .network(ip, prefix: $0.bytes.reduce(0) { $0 + $1.nonzeroBitCount }) } ?? .unchecked
                    } else {
                        source = .network(ip, prefix: 32)
                    }
                } else {
                    source = .unchecked
                }
            }
        }

        /// Whether a replication connection from `host` could match this line (forms not narrowed
        /// here count as matching: doctor never cries wolf).
        public func admitsReplication(from host: IPv4) -> Bool {
            guard error == nil, transport == .tcp, replication else { return false }
            switch source {
            case .none: return false
            case .unchecked: return true
            case .network(let network, let prefix):
                let value = { (ip: IPv4) in ip.bytes.reduce(UInt32(0)) { ($0 << 8) | UInt32($1) } }
                let mask: UInt32 = prefix <= 0 ? 0 : ~UInt32(0) << UInt32(32 - min(prefix, 32))
                return value(network) & mask == value(host) & mask
            }
        }
    }

    public init(node: String) { self.node = node }
}

/// One thing `lifeboat doctor` found wrong, with the exact fix.
public struct DoctorFinding: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable {
        /// A failover (or the monitor's view of the cluster) would not work.
        case breaksFailover = "breaks-failover"
        /// Works today, but something the operator relies on would not (rejoin, fast corroboration).
        case warning
    }

    public var node: String
    public var severity: Severity
    /// The setting or fact concerned (`wal_level`, `connection`, `role`, `clock` …).
    public var subject: String
    public var problem: String
    public var fix: String

    public init(node: String, severity: Severity, subject: String, problem: String, fix: String) {
        self.node = node
        self.severity = severity
        self.subject = subject
        self.problem = problem
        self.fix = fix
    }
}

/// The checks of `lifeboat doctor`, on facts gathered from every node: each finding names the
/// node, what is wrong and the exact fix. Pure: the command gathers, this decides.
public enum Doctor {
    public struct Context: Sendable {
        /// Database nodes in the cluster.
        public var nodeCount: Int
        /// `failover.lease_ttl` is set (the lease, not the WAL receiver, corroborates a partition).
        public var leaseInUse: Bool
        /// Each node's address as the config gives it (where its replication connections come from).
        public var hosts: [String: String]
        /// `replication_slots: managed` (the default): the monitor keeps a `lifeboat_…` slot per node.
        public var slotsManaged: Bool
        public init(nodeCount: Int, leaseInUse: Bool, hosts: [String: String] = [:], slotsManaged: Bool = false) {
            self.slotsManaged = slotsManaged
            self.nodeCount = nodeCount
            self.leaseInUse = leaseInUse
            self.hosts = hosts
        }
    }

    /// Corroboration without a lease waits for `wal_receiver_timeout`; more than this is slow.
    public static let slowReceiverTimeout = 10.0
    /// A clock this far off makes journal times and the drill's RPO seconds disagree between nodes.
    public static let clockTolerance = 2.0

    public static func findings(_ facts: [NodeFacts], context: Context) -> [DoctorFinding] {
        facts.flatMap { check($0, context: context) }
    }

    static func check(_ f: NodeFacts, context: Context) -> [DoctorFinding] {
        var out: [DoctorFinding] = []
        func add(_ severity: DoctorFinding.Severity, _ subject: String, _ problem: String, _ fix: String) {
            out.append(DoctorFinding(node: f.node, severity: severity, subject: subject, problem: problem, fix: fix))
        }
        guard f.reachable else {
            add(.breaksFailover, "connection", "the monitor's connection fails: \(f.error ?? "no answer")",
                "check host/port/user/password in lifeboat.yml, listen_addresses and pg_hba.conf on the node (a host line for the monitor's address and user)")
            return out
        }
        if f.superuser == false {
            add(.breaksFailover, "role", "the monitor's user is not a superuser: it cannot fence (ALTER SYSTEM) or promote (pg_promote)",
                "ALTER ROLE <monitor user> SUPERUSER;  (or connect as postgres)")
        }
        let setting = { (name: String) in f.settings[name] }
        if let level = setting("wal_level")?.value, level == "minimal" {
            add(.breaksFailover, "wal_level", "wal_level is minimal: no standby can stream from this node",
                "ALTER SYSTEM SET wal_level = 'replica'; then restart PostgreSQL")
        }
        if let senders = setting("max_wal_senders").flatMap({ Int($0.value) }), senders < context.nodeCount {
            add(senders == 0 ? .breaksFailover : .warning, "max_wal_senders",
                "max_wal_senders is \(senders): fewer than one per other node plus one for pg_basebackup/pg_rewind (\(context.nodeCount) nodes)",
                "ALTER SYSTEM SET max_wal_senders = \(max(10, context.nodeCount + 1)); then restart PostgreSQL")
        }
        if let slots = setting("max_replication_slots").flatMap({ Int($0.value) }), slots < context.nodeCount - 1 {
            add(.warning, "max_replication_slots", "max_replication_slots is \(slots): not one per standby (\(context.nodeCount - 1))",
                "ALTER SYSTEM SET max_replication_slots = \(max(10, context.nodeCount)); then restart PostgreSQL")
        }
        if setting("hot_standby").map({ !$0.isOn }) == true {
            add(.breaksFailover, "hot_standby", "hot_standby is off: as a standby this node refuses the monitor's connections, so it is never a candidate",
                "ALTER SYSTEM SET hot_standby = on; then restart PostgreSQL")
        }
        if setting("wal_log_hints").map({ !$0.isOn }) == true, setting("data_checksums").map({ !$0.isOn }) == true {
            add(.warning, "wal_log_hints", "neither wal_log_hints nor data checksums are on: pg_rewind refuses, so a former primary can only rejoin by a full base backup",
                "ALTER SYSTEM SET wal_log_hints = on; then restart PostgreSQL (or initdb --data-checksums for new clusters)")
        }
        if setting("wal_keep_size").flatMap({ Int($0.value) }) == 0, f.replicationSlots?.isEmpty ?? true {
            add(.warning, "wal_keep_size", "wal_keep_size is 0 and no replication slot keeps WAL: pg_rewind needs this node's WAL back to the last checkpoint before a fork, which a checkpoint may already have recycled, so a rejoin may need --reinit (a full base backup)",
                "ALTER SYSTEM SET wal_keep_size = '1GB'; SELECT pg_reload_conf();")
        }
        if !context.leaseInUse {
            for name in ["wal_receiver_timeout", "wal_sender_timeout"] {
                if let seconds = setting(name)?.seconds, seconds <= 0 || seconds > slowReceiverTimeout {
                    add(.warning, name,
                        "\(name) is \(seconds <= 0 ? "off" : "\(Int(seconds))s") and there is no primary lease: a silent partition is corroborated only after it",
                        "ALTER SYSTEM SET \(name) = '5s'; SELECT pg_reload_conf();  (or set failover.lease_ttl and run agents)")
                }
            }
        }
        if f.inRecovery == false, setting("default_transaction_read_only")?.isOn == true {
            add(.warning, "default_transaction_read_only", "this primary is read-only (fenced, or made read-only by hand): it takes no writes",
                "if it should be the primary: ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();  (never on a fenced old primary)")
        }
        if let offset = f.clockOffsetSeconds, abs(offset) > clockTolerance {
            add(.warning, "clock", "its clock is \(offset > 0 ? "+" : "")\((offset * 10).rounded() / 10) s from this machine's",
                "run NTP (chrony or systemd-timesyncd) on every node; the lease counts on clock rates, but journal times and RPO seconds need agreeing clocks")
        }
        for rule in f.hbaRules ?? [] {
            if let error = rule.error {
                add(.warning, "pg_hba.conf", "line \(rule.line) is not understood: \(error); PostgreSQL ignores it", "correct line \(rule.line) of pg_hba.conf, then SELECT pg_reload_conf();")
            }
        }
        if let rules = f.hbaRules {
            for (peer, host) in context.hosts.sorted(by: { $0.key < $1.key }) where peer != f.node {
                guard let address = IPv4(host) else { continue }
                if !rules.contains(where: { $0.admitsReplication(from: address) }) {
                    add(.breaksFailover, "pg_hba.conf",
                        "no line admits replication from \(peer) (\(host)): if \(f.node) becomes the primary, \(peer) cannot stream from it",
                        "add to pg_hba.conf: hostssl replication <replication user> \(host)/32 scram-sha-256; then SELECT pg_reload_conf();")
                }
            }
        }
        let slotOwner = Dictionary(context.hosts.keys.map { (ReplicationSlots.name(for: $0), $0) }, uniquingKeysWith: { first, _ in first })
        for slot in f.replicationSlots ?? [] where !slot.active && f.inRecovery == false {
            if context.slotsManaged, let node = slotOwner[slot.name], node != f.node {
                add(.warning, "replication slot", "slot \(slot.name) is not in use: \(node) does not stream, and the primary keeps every WAL segment since for it",
                    "lifeboat rejoin \(node)  (or, if \(node) is gone for good, remove it from lifeboat.yml: the monitor then drops its slot)")
            } else {
                add(.warning, "replication slot", "slot \(slot.name) is not in use: it keeps WAL on the primary for a standby that is not streaming",
                    "if its standby is gone for good: SELECT pg_drop_replication_slot('\(slot.name)');")
            }
        }
        if context.slotsManaged {
            let wanted = ReplicationSlots.name(for: f.node)
            if f.inRecovery == true, let current = setting("primary_slot_name")?.value, current != wanted {
                add(.warning, "primary_slot_name", "primary_slot_name is \(current.isEmpty ? "not set" : "'\(current)'"): this standby does not stream through its slot, so the primary may recycle WAL it still needs",
                    "ALTER SYSTEM SET primary_slot_name = '\(wanted)'; SELECT pg_reload_conf();  (the leading monitor does this itself within 10 s)")
            }
            if f.inRecovery == false, setting("max_slot_wal_keep_size")?.value == "-1" {
                add(.warning, "max_slot_wal_keep_size", "max_slot_wal_keep_size is unlimited: a standby away for long keeps WAL on this primary until its disk is full",
                    "ALTER SYSTEM SET max_slot_wal_keep_size = '20GB'; SELECT pg_reload_conf();  (sized to the disk: a slot past it loses its WAL, and its standby needs lifeboat replica init)")
            }
        }
        if f.inRecovery == false {
            for (role, missing) in (f.rewindGrantsMissing ?? [:]).sorted(by: { $0.key < $1.key }) {
                let grants = missing.map { $0 == "pg_checkpoint" ? "GRANT pg_checkpoint TO \(role);" : "GRANT EXECUTE ON FUNCTION pg_catalog.\($0) TO \(role);" }
                add(.warning, "pg_rewind", "\(role) can stream but pg_rewind with it would fail (a rejoin would need --reinit): it lacks \(missing.joined(separator: ", "))",
                    grants.joined(separator: " "))
            }
        }
        return out
    }
}
