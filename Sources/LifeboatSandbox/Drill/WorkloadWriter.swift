import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPorts
import LifeboatPostgres
import Logging
import PostgresNIO

/// A client that inserts numbered rows and logs every acknowledged write. It finds its server
/// either through DNS, as applications do (the name is resolved on every reconnect, honouring
/// the record's TTL), or like a multi-host connection string (`target_session_attrs=read-write`):
/// trying every region until one accepts writes.
public actor WorkloadWriter {
    public enum Target: Sendable {
        case anyWritable([DatabaseNodeConfig])
        /// Resolve `name` at `server`, connect to the address on `port`.
        case dns(name: DNSName, server: DNSServer, zone: DNSName, port: Int)
    }

    public struct Ack: Sendable {
        public var seq: Int
        public var at: ContinuousClock.Instant
        public var node: String
    }

    public static let table = "lifeboat_drill"
    public static let createTableSQL = "CREATE TABLE IF NOT EXISTS lifeboat_drill (seq bigint PRIMARY KEY, node text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())"

    private let target: Target
    private var cached: (addresses: [IPv4], until: ContinuousClock.Instant)?
    private let pause: Duration
    /// Like an application's statement timeout: a write that hangs (its server vanished without
    /// closing the socket) is abandoned and the writer reconnects.
    private let writeTimeout: Duration
    private let logger: Logger
    private let clock = ContinuousClock()
    public private(set) var acks: [Ack] = []
    public private(set) var failedAttempts = 0
    private var nextSeq = 1
    private var stopped = false

    /// Called with every acknowledged write as it happens (the drill client prints it).
    private let onAck: (@Sendable (Ack) -> Void)?

    public init(target: Target, pause: Duration = .milliseconds(10), writeTimeout: Duration = .seconds(1), firstSeq: Int = 1,
                onAck: (@Sendable (Ack) -> Void)? = nil, logger: Logger) {
        self.target = target
        self.nextSeq = firstSeq
        self.onAck = onAck
        self.pause = pause
        self.writeTimeout = writeTimeout
        self.logger = logger
    }

    public func stop() { stopped = true }

    /// The latest write went to one of `nodes` (names or addresses) after `instant`.
    public func hasAck(on nodes: [String], after instant: ContinuousClock.Instant) -> Bool {
        acks.last.map { nodes.contains($0.node) && $0.at > instant } ?? false
    }

    /// Writes until `stop()`.
    public func run() async {
        var connection: (PostgresConnection, String)?
        var id = 0
        while !stopped && !Task.isCancelled {
            if connection == nil {
                connection = await connectToWritable(id: &id)
                if connection == nil {
                    try? await Task.sleep(for: .milliseconds(20))
                    continue
                }
            }
            guard let (conn, node) = connection else { continue }
            if stopped { break }
            let seq = nextSeq
            nextSeq += 1
            do {
                let logger = self.logger
                try await withTimeout(writeTimeout, onAbandon: { try? await conn.close() }) {
                    try await conn.query("INSERT INTO lifeboat_drill (seq, node) VALUES (\(seq), \(node))", logger: logger)
                }
                let ack = Ack(seq: seq, at: clock.now, node: node)
                acks.append(ack)
                onAck?(ack)
            } catch {
                logger.debug("write \(seq) failed on \(node): \(String(reflecting: error))", metadata: ["writer": "drill"])
                failedAttempts += 1
                try? await conn.close()
                connection = nil
                continue
            }
            try? await Task.sleep(for: pause)
        }
        if let (conn, _) = connection { try? await conn.close() }
    }

    /// Where to try: the resolved addresses, or every node.
    private func endpoints() async -> [DatabaseNodeConfig] {
        switch target {
        case .anyWritable(let nodes):
            return nodes
        case .dns(let name, let server, let zone, let port):
            if let cached, clock.now < cached.until {
                return cached.addresses.map { DatabaseNodeConfig(name: $0.description, region: "", host: $0.description, port: port) }
            }
            let resolver = RFC2136Client(server: server, zone: zone, key: nil, timeout: .milliseconds(500))
            guard let (addresses, ttl) = try? await resolver.addresses(of: name) else { return [] }
            cached = (addresses, clock.now.advanced(by: .seconds(Int64(ttl ?? 0))))
            return addresses.map { DatabaseNodeConfig(name: $0.description, region: "", host: $0.description, port: port) }
        }
    }

    /// The first endpoint that accepts a session that can write.
    private func connectToWritable(id: inout Int) async -> (PostgresConnection, String)? {
        for endpoint in await endpoints() {
            id += 1
            var configuration = PostgresConnection.Configuration(
                host: endpoint.host, port: endpoint.port, username: endpoint.user, password: nil, database: endpoint.database, tls: .disable
            )
            configuration.options.connectTimeout = .milliseconds(500)
            configuration.options.additionalStartupParameters = [("application_name", "lifeboat-drill-writer")]
            logger.debug("writer connecting to \(endpoint.name)", metadata: ["writer": "drill"])
            let conn: PostgresConnection
            do {
                conn = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            } catch {
                logger.debug("writer cannot connect to \(endpoint.name): \(String(reflecting: error))", metadata: ["writer": "drill"])
                continue
            }
            do {
                let rows = try await conn.query("SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only') = 'on'", logger: logger)
                var readOnly = true
                for try await value in rows.decode(Bool.self) { readOnly = value }
                if !readOnly { return (conn, endpoint.name) }
            } catch {}
            try? await conn.close()
        }
        return nil
    }
}

