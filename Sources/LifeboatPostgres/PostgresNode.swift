import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatPorts
import Logging
import NIOSSL
import PostgresNIO

/// One PostgreSQL server: probes over a kept-open connection, actions over fresh ones.
public actor PostgresNode {
    public let config: DatabaseNodeConfig
    private let password: String?
    private let logger: Logger
    private var probeConnection: PostgresConnection?
    /// A session opened ahead of time for a self-fence (`reserveFenceSession`): fencing then costs
    /// two statements, not a new backend, when the server is overloaded.
    private var fenceConnection: PostgresConnection?
    /// The fence under way, which a second fence joins: two fences at once would each terminate
    /// the other's session (the lease keeper's self-fence and an ordered fence can coincide).
    private var fenceInFlight: Task<FenceOutcome, any Error>?
    private var nextConnectionID = 1

    public init(config: DatabaseNodeConfig, password: Secret?, logger: Logger) {
        self.config = config
        self.password = password?.reveal()
        var logger = logger
        logger[metadataKey: "node"] = "\(config.name)"
        self.logger = logger
    }

    // MARK: Probe

    static let probeSQL: PostgresQuery = """
        SELECT pg_is_in_recovery(),
               CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
               pg_last_wal_receive_lsn()::text,
               pg_last_wal_replay_lsn()::text,
               CASE WHEN NOT pg_is_in_recovery() THEN NULL
                    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::float8
                    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END,
               (SELECT status FROM pg_stat_wal_receiver LIMIT 1),
               (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1),
               (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')::int4,
               current_setting('default_transaction_read_only') = 'on',
               CASE WHEN pg_is_in_recovery()
                    THEN COALESCE((SELECT NULLIF(received_tli, 0) FROM pg_stat_wal_receiver LIMIT 1), (pg_control_checkpoint()).timeline_id)
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int4 END
        """

    /// Reachability, role, WAL positions, lag, WAL receiver state and replicas in one round trip.
    public func probe(timeout: Duration) async -> ProbeResult {
        do {
            let status = try await withTimeout(timeout, onAbandon: { await self.dropProbeConnection() }) {
                try await self.runProbe(timeout: timeout)
            }
            return .reachable(status)
        } catch {
            await dropProbeConnection()
            return .unreachable(PostgresNodeError.classify(error))
        }
    }

    private func runProbe(timeout: Duration) async throws -> NodeStatus {
        let (connection, reused) = try await probeConnectionOpen(timeout: timeout)
        do {
            return try await probeQuery(connection)
        } catch where reused {
            // The kept connection may have been ended under us (a fence terminates every client
            // session, a restart, an idle timeout): one fresh attempt before calling the node down.
            await dropProbeConnection()
            return try await probeQuery(try await probeConnectionOpen(timeout: timeout).connection)
        }
    }

    private func probeQuery(_ connection: PostgresConnection) async throws -> NodeStatus {
        let rows = try await connection.query(Self.probeSQL, logger: logger)
        for try await (inRecovery, current, received, replayed, lag, receiver, sender, replicas, readOnly, timeline)
            in rows.decode((Bool, String?, String?, String?, Double?, String?, String?, Int32, Bool, Int32?).self)
        {
            let walReceiver: WALReceiverState = if !inRecovery {
                .notApplicable
            } else if receiver == "streaming" {
                .streaming(upstream: sender)
            } else {
                .notStreaming(status: receiver)
            }
            return NodeStatus(
                inRecovery: inRecovery, currentLSN: current.flatMap { LSN($0) }, receiveLSN: received.flatMap { LSN($0) },
                replayLSN: replayed.flatMap { LSN($0) }, replayLag: lag.map { .milliseconds(Int64(($0 * 1000).rounded())) },
                walReceiver: walReceiver, connectedReplicas: Int(replicas), readOnly: readOnly,
                timeline: timeline.flatMap { $0 > 0 ? UInt32($0) : nil }
            )
        }
        throw PostgresNodeError(node: config.name, operation: "probe", reason: "the probe query returned no row")
    }

    private func probeConnectionOpen(timeout: Duration) async throws -> (connection: PostgresConnection, reused: Bool) {
        if let connection = probeConnection, !connection.isClosed { return (connection, true) }
        let connection = try await connect(timeout: timeout)
        // The actor is reentrant: two probes may have connected at once. Keep one, close the other
        // (postgres-nio requires every connection to be closed).
        if let existing = probeConnection, !existing.isClosed {
            try? await connection.close()
            return (existing, true)
        }
        if let stale = probeConnection {
            probeConnection = nil
            try? await stale.close()
        }
        // Closing suspended this actor: another probe may have kept a connection meanwhile.
        if let existing = probeConnection, !existing.isClosed {
            try? await connection.close()
            return (existing, true)
        }
        if let other = probeConnection { try? await other.close() }
        probeConnection = connection
        return (connection, false)
    }

    /// Closes the kept-open probe connection (the server is about to restart).
    public func dropProbeConnection() async {
        guard let connection = probeConnection else { return }
        probeConnection = nil
        try? await connection.close()
    }

    /// Recovery and fencing state, as a fresh session sees it.
    public struct RoleState: Sendable, Equatable {
        public var inRecovery: Bool
        /// New transactions are read-only (`default_transaction_read_only`, e.g. fenced).
        public var readOnly: Bool
    }

    /// The health check a load balancer relies on: a fresh connection (so a full connection table
    /// or a refused login shows) and one query.
    public func connectAndQuery(timeout: Duration) async throws -> RoleState {
        do {
            return try await withConnection(timeout: timeout) { connection in
                let rows = try await connection.query("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on'", logger: self.logger)
                for try await (inRecovery, readOnly) in rows.decode((Bool, Bool).self) {
                    return RoleState(inRecovery: inRecovery, readOnly: readOnly)
                }
                throw PostgresNodeError(node: self.config.name, operation: "health check", reason: "no row returned")
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "health check")
        }
    }

    // MARK: Actions

    /// Makes the node refuse writes: `default_transaction_read_only` on, reloaded, and every
    /// client session terminated so none keeps writing. Unreachable is an outcome, not an error.
    public func fence(timeout: Duration, connectTimeout: Duration? = nil) async throws -> FenceOutcome {
        if let running = fenceInFlight { return try await running.value }
        let task = Task { try await self.fenceOnce(timeout: timeout, connectTimeout: connectTimeout) }
        fenceInFlight = task
        defer { fenceInFlight = nil }
        return try await task.value
    }

    private func fenceOnce(timeout: Duration, connectTimeout: Duration?) async throws -> FenceOutcome {
        if let reserved = fenceConnection {
            fenceConnection = nil
            if !reserved.isClosed, let outcome = try? await fenceQueries(on: reserved, timeout: timeout) {
                fenceConnection = reserved
                return outcome
            }
            try? await reserved.close()
        }
        let connection: PostgresConnection
        do {
            // connect has its own timeout; wrapping it could abandon a connection that then never closes.
            connection = try await connect(timeout: min(connectTimeout ?? timeout, timeout))
        } catch {
            return .unreachable(PostgresNodeError.classify(error))
        }
        defer { Task { try? await connection.close() } }
        do {
            return try await fenceQueries(on: connection, timeout: timeout)
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "fence")
        }
    }

    private func fenceQueries(on connection: PostgresConnection, timeout: Duration) async throws -> FenceOutcome {
        try await withTimeout(timeout, onAbandon: { try? await connection.close() }) {
            try await connection.query("ALTER SYSTEM SET default_transaction_read_only = on", logger: self.logger)
            try await connection.query("SELECT pg_reload_conf()", logger: self.logger)
            let rows = try await connection.query("""
                SELECT count(pg_terminate_backend(pid))::int4 FROM pg_stat_activity
                WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                """, logger: self.logger)
            var terminated: Int32 = 0
            for try await count in rows.decode(Int32.self) { terminated = count }
            return .fenced(detail: "default_transaction_read_only=on, \(terminated) client sessions terminated")
        }
    }

    /// Opens (or keeps) the session a later `fence` uses first. Quietly does nothing when the server
    /// does not answer: the fence then connects as usual.
    public func reserveFenceSession(timeout: Duration) async {
        if let reserved = fenceConnection, !reserved.isClosed { return }
        fenceConnection = try? await connect(timeout: timeout)
    }

    /// Closes the reserved session (the node is no longer the primary).
    public func releaseFenceSession() async {
        if let reserved = fenceConnection {
            fenceConnection = nil
            try? await reserved.close()
        }
    }

    /// Undoes a read-only fence (`ALTER SYSTEM RESET default_transaction_read_only`, reloaded).
    public func liftReadOnly(timeout: Duration) async throws -> String {
        do {
            return try await withConnection(timeout: timeout) { connection in
                try await connection.query("ALTER SYSTEM RESET default_transaction_read_only", logger: self.logger)
                try await connection.query("SELECT pg_reload_conf()", logger: self.logger)
                return "read-only fence lifted"
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "lift fence")
        }
    }

    /// `pg_promote(wait => true)`; already out of recovery counts as done, so a retry after a
    /// lost answer does not fail. Also lifts a read-only fence left from an earlier life as primary.
    public func promote(timeout: Duration) async throws -> String {
        do {
            return try await withConnection(timeout: timeout) { connection in
                let waitSeconds = max(1, Int(timeout.components.seconds))
                var detail: String
                if try await self.single(connection, "SELECT pg_is_in_recovery()", as: Bool.self) {
                    let promoted = try await self.single(connection, PostgresQuery(unsafeSQL: "SELECT pg_promote(wait => true, wait_seconds => \(waitSeconds))"), as: Bool.self)
                    guard promoted else {
                        throw PostgresNodeError(node: self.config.name, operation: "promote", reason: "pg_promote did not finish within \(waitSeconds)s")
                    }
                    detail = "pg_promote returned true"
                } else {
                    detail = "already out of recovery"
                }
                if try await self.single(connection, "SELECT current_setting('default_transaction_read_only') = 'on'", as: Bool.self) {
                    try await connection.query("ALTER SYSTEM RESET default_transaction_read_only", logger: self.logger)
                    try await connection.query("SELECT pg_reload_conf()", logger: self.logger)
                    detail += "; lifted an old read-only fence"
                }
                return detail
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "promote")
        }
    }

    /// Polls until a new session is out of recovery and not read-only, then proves it with a
    /// write (`txid_current()` assigns a transaction id, which a read-only server refuses).
    public func waitWritable(timeout: Duration, pollEvery: Duration = .milliseconds(20)) async throws -> String {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: timeout)
        var lastError = "not tried"
        while clock.now < deadline {
            do {
                let remaining = clock.now.duration(to: deadline)
                try await withConnection(timeout: remaining) { connection in
                    _ = try await self.single(connection, "SELECT txid_current()::text", as: String.self)
                }
                return "write accepted \(DurationText.format(start.duration(to: clock.now))) after promotion"
            } catch {
                lastError = PostgresNodeError.classify(error).detail
            }
            try await Task.sleep(for: pollEvery)
        }
        throw PostgresNodeError(node: config.name, operation: "wait-writable", reason: "not writable after \(DurationText.format(timeout)) (last: \(lastError))")
    }

    /// Points this standby at `primary`: its `primary_conninfo` keeps every setting (user,
    /// password, sslmode, application_name) with host and port replaced. Reloaded, no restart.
    public func repoint(toHost host: String, port: Int, timeout: Duration) async throws -> String {
        do {
            return try await withConnection(timeout: timeout) { connection in
                let current = try await self.single(connection, "SELECT current_setting('primary_conninfo')", as: String.self)
                var conninfo = try ConnInfo(parsing: current)
                conninfo["hostaddr"] = nil
                conninfo["host"] = host
                conninfo["port"] = String(port)
                if conninfo["user"] == nil { conninfo["user"] = self.config.user }
                let literal = conninfo.text.replacingOccurrences(of: "'", with: "''")
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER SYSTEM SET primary_conninfo = '\(literal)'"), logger: self.logger)
                try await connection.query("SELECT pg_reload_conf()", logger: self.logger)
                return "primary_conninfo now \(conninfo.redacted)"
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "repoint")
        }
    }

    /// Makes `synchronous_standby_names` on this (primary) server `value` (ALTER SYSTEM, reloaded)
    /// unless it already is; returns the value it had. Refuses a server in recovery.
    public func setSynchronousStandbyNames(_ value: String, timeout: Duration) async throws -> String {
        do {
            return try await withConnection(timeout: timeout) { connection in
                guard !(try await self.single(connection, "SELECT pg_is_in_recovery()", as: Bool.self)) else {
                    throw PostgresNodeError(node: self.config.name, operation: "synchronous_standby_names", reason: "the server is in recovery, not the primary")
                }
                let current = try await self.single(connection, "SELECT current_setting('synchronous_standby_names')", as: String.self)
                guard current != value else { return current }
                let literal = value.replacingOccurrences(of: "'", with: "''")
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER SYSTEM SET synchronous_standby_names = '\(literal)'"), logger: self.logger)
                try await connection.query("SELECT pg_reload_conf()", logger: self.logger)
                return current
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "synchronous_standby_names")
        }
    }

    /// The primary's replication slots with the WAL each holds back (`replication_slots:`).
    public func replicationSlots(timeout: Duration) async throws -> [ReplicationSlot] {
        do {
            return try await withConnection(timeout: timeout) { connection in
                guard !(try await self.single(connection, "SELECT pg_is_in_recovery()", as: Bool.self)) else {
                    throw PostgresNodeError(node: self.config.name, operation: "replication slots", reason: "the server is in recovery, not the primary")
                }
                let rows = try await connection.query("""
                    SELECT slot_name::text, slot_type = 'physical', temporary, active, COALESCE(wal_status, ''),
                           CASE WHEN restart_lsn IS NULL THEN NULL ELSE GREATEST(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::int8 END
                    FROM pg_replication_slots ORDER BY slot_name
                    """, logger: self.logger)
                var slots: [ReplicationSlot] = []
                for try await (name, physical, temporary, active, status, retained) in rows.decode((String, Bool, Bool, Bool, String, Int64?).self) {
                    slots.append(ReplicationSlot(name: name, physical: physical, temporary: temporary, active: active,
                                                 walStatus: ReplicationSlot.WALStatus(rawValue: status) ?? .unknown,
                                                 retainedBytes: retained.map { UInt64(max(0, $0)) }))
                }
                return slots
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "replication slots")
        }
    }

    /// Creates a permanent physical slot that keeps WAL from now on (one that exists already is fine).
    public func createPhysicalSlot(_ name: String, timeout: Duration) async throws {
        do {
            try await withConnection(timeout: timeout) { connection in
                try await connection.query("""
                    SELECT pg_create_physical_replication_slot(\(name), true)
                    WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = \(name))
                    """, logger: self.logger)
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "create replication slot \(name)")
        }
    }

    /// Drops a slot no walsender uses (PostgreSQL refuses an active one).
    public func dropSlot(_ name: String, timeout: Duration) async throws {
        do {
            try await withConnection(timeout: timeout) { connection in
                try await connection.query("""
                    SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = \(name) AND NOT active
                    """, logger: self.logger)
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "drop replication slot \(name)")
        }
    }

    /// The slot this standby streams through (`primary_slot_name`; empty: none).
    public func primarySlotName(timeout: Duration) async throws -> String {
        do {
            return try await withConnection(timeout: timeout) { connection in
                try await self.single(connection, "SELECT current_setting('primary_slot_name')", as: String.self)
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "primary_slot_name")
        }
    }

    /// Points a standby's WAL receiver at `name` (`primary_slot_name`, reloaded: the receiver
    /// reconnects through it). Returns the setting it had; one already right is left alone.
    public func setPrimarySlotName(_ name: String, timeout: Duration) async throws -> String {
        do {
            return try await withConnection(timeout: timeout) { connection in
                guard try await self.single(connection, "SELECT pg_is_in_recovery()", as: Bool.self) else {
                    throw PostgresNodeError(node: self.config.name, operation: "primary_slot_name", reason: "the server is not a standby")
                }
                let current = try await self.single(connection, "SELECT current_setting('primary_slot_name')", as: String.self)
                guard current != name else { return current }
                // ReplicationSlots.name(for:) makes only [a-z0-9_]: safe to quote as a literal.
                guard name.unicodeScalars.allSatisfy({ ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }) else {
                    throw PostgresNodeError(node: self.config.name, operation: "primary_slot_name", reason: "not a slot name: \(name)")
                }
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER SYSTEM SET primary_slot_name = '\(name)'"), logger: self.logger)
                try await connection.query("SELECT pg_reload_conf()", logger: self.logger)
                return current
            }
        } catch {
            throw PostgresNodeError.wrap(error, node: config.name, operation: "primary_slot_name")
        }
    }

    public func close() async {
        await dropProbeConnection()
        await releaseFenceSession()
    }

    /// A node dropped without `close()` (an error path, a test that threw) still closes its
    /// probe connection: the task keeps the connection alive until the close has finished.
    deinit {
        if let connection = probeConnection {
            Task { try? await connection.close() }
        }
        if let connection = fenceConnection {
            Task { try? await connection.close() }
        }
    }

    // MARK: Connections

    func connect(timeout: Duration) async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: config.host, port: config.port, username: config.user, password: password,
            database: config.database, tls: try tls()
        )
        configuration.options.connectTimeout = .milliseconds(max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        configuration.options.additionalStartupParameters = [("application_name", "lifeboat")]
        let id = nextConnectionID
        nextConnectionID += 1
        return try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        switch config.tls {
        case .disable:
            return .disable
        case .prefer, .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            let context = try NIOSSLContext(configuration: tls)
            return config.tls == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    private func withConnection<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await connect(timeout: timeout)
        do {
            let result = try await withTimeout(timeout, onAbandon: { try? await connection.close() }) { try await body(connection) }
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private nonisolated func single<T: PostgresDecodable & Sendable>(_ connection: PostgresConnection, _ query: PostgresQuery, as: T.Type) async throws -> T {
        let rows = try await connection.query(query, logger: logger)
        for try await value in rows.decode(T.self) { return value }
        throw PostgresNodeError(node: config.name, operation: "query", reason: "no row returned")
    }
}

// MARK: - Doctor

extension PostgresNode {
    /// The settings `lifeboat doctor` reads (pg_settings' `setting` and `unit`).
    public static let doctorSettings = ["wal_level", "max_wal_senders", "max_replication_slots", "hot_standby", "wal_log_hints",
                                        "data_checksums", "wal_receiver_timeout", "wal_sender_timeout", "default_transaction_read_only",
                                        "listen_addresses", "ssl", "synchronous_standby_names", "wal_keep_size",
                                        "primary_slot_name", "max_slot_wal_keep_size"]

    /// What pg_rewind needs of a role that is not a superuser (docs/postgresql.md grants it).
    public static let rewindFunctions = ["pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)",
                                         "pg_read_binary_file(text)", "pg_read_binary_file(text, bigint, bigint, boolean)"]

    /// What `lifeboat doctor` needs to know of this server, over a fresh connection.
    public func doctorFacts(timeout: Duration) async -> NodeFacts {
        let name = config.name
        do {
            var facts = try await withConnection(timeout: timeout) { connection -> NodeFacts in
                var facts = NodeFacts(node: name)
                let names = Self.doctorSettings.map { "'\($0)'" }.joined(separator: ",")
                let settings = try await connection.query(PostgresQuery(unsafeSQL: "SELECT name, setting, COALESCE(unit, '') FROM pg_settings WHERE name IN (\(names))"),
                                                          logger: self.logger)
                for try await (name, setting, unit) in settings.decode((String, String, String).self) {
                    facts.settings[name] = NodeFacts.Setting(value: setting, unit: unit)
                }
                let about = try await connection.query("""
                    SELECT pg_is_in_recovery(), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                           EXTRACT(EPOCH FROM clock_timestamp())::float8, current_setting('server_version_num')::int4
                    """, logger: self.logger)
                for try await (inRecovery, superuser, clock, version) in about.decode((Bool, Bool, Double, Int32).self) {
                    facts.inRecovery = inRecovery
                    facts.superuser = superuser
                    facts.clockOffsetSeconds = clock - Date().timeIntervalSince1970
                    facts.serverVersion = Int(version)
                }
                let slots = try await connection.query("SELECT slot_name::text, active FROM pg_replication_slots ORDER BY slot_name", logger: self.logger)
                var found: [NodeFacts.Slot] = []
                for try await (slot, active) in slots.decode((String, Bool).self) { found.append(NodeFacts.Slot(name: slot, active: active)) }
                facts.replicationSlots = found
                let columns = Self.rewindFunctions.enumerated().map { "has_function_privilege(oid, 'pg_catalog.\($1)', 'EXECUTE')" }
                let roles = try await connection.query(PostgresQuery(unsafeSQL: """
                    SELECT rolname::text, \(columns.joined(separator: ", ")), pg_has_role(oid, 'pg_checkpoint', 'MEMBER')
                    FROM pg_roles WHERE rolreplication AND rolcanlogin AND NOT rolsuper ORDER BY rolname
                    """), logger: self.logger)
                var missing: [String: [String]] = [:]
                for try await (role, a, b, c, d, checkpoint) in roles.decode((String, Bool, Bool, Bool, Bool, Bool).self) {
                    let lacks = zip(Self.rewindFunctions, [a, b, c, d]).filter { !$0.1 }.map(\.0) + (checkpoint ? [] : ["pg_checkpoint"])
                    if !lacks.isEmpty { missing[role] = lacks }
                }
                facts.rewindGrantsMissing = missing
                // Readable by superusers only; without it the pg_hba checks are skipped.
                do {
                    let hba = try await connection.query("""
                        SELECT line_number, type, COALESCE(database, '{}'::text[]), COALESCE(user_name, '{}'::text[]), address, netmask, error
                        FROM pg_hba_file_rules ORDER BY line_number
                        """, logger: self.logger)
                    var rules: [NodeFacts.HBARule] = []
                    for try await (line, type, databases, users, address, netmask, error) in hba.decode((Int32, String, [String], [String], String?, String?, String?).self) {
                        rules.append(NodeFacts.HBARule(line: Int(line), type: type, databases: databases, users: users, address: address, netmask: netmask, error: error))
                    }
                    facts.hbaRules = rules
                } catch {
                    facts.hbaRules = nil
                }
                return facts
            }
            facts.reachable = true
            return facts
        } catch {
            var facts = NodeFacts(node: name)
            facts.error = "\(PostgresNodeError.wrap(error, node: name, operation: "doctor"))"
            return facts
        }
    }
}
