import LifeboatConfig
import LifeboatPostgres
import Logging
import PostgresNIO

/// A client that inserts numbered rows and logs every acknowledged write, like an application
/// with a multi-host connection string (`target_session_attrs=read-write`): when its server goes
/// away it tries every region until one accepts writes.
public actor WorkloadWriter {
    public struct Ack: Sendable {
        public var seq: Int
        public var at: ContinuousClock.Instant
        public var node: String
    }

    public static let table = "lifeboat_drill"
    public static let createTableSQL = "CREATE TABLE IF NOT EXISTS lifeboat_drill (seq bigint PRIMARY KEY, node text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())"

    private let endpoints: [DatabaseNodeConfig]
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

    public init(endpoints: [DatabaseNodeConfig], pause: Duration = .milliseconds(10), writeTimeout: Duration = .seconds(1), logger: Logger) {
        self.endpoints = endpoints
        self.pause = pause
        self.writeTimeout = writeTimeout
        self.logger = logger
    }

    public func stop() { stopped = true }

    public func hasAck(on node: String, after instant: ContinuousClock.Instant) -> Bool {
        acks.last.map { $0.node == node && $0.at > instant } ?? false
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
                try await withTimeout(writeTimeout, onTimeout: { try? await conn.close() }) {
                    try await conn.query("INSERT INTO lifeboat_drill (seq, node) VALUES (\(seq), \(node))", logger: logger)
                }
                acks.append(Ack(seq: seq, at: clock.now, node: node))
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

    /// The first endpoint that accepts a session that can write.
    private func connectToWritable(id: inout Int) async -> (PostgresConnection, String)? {
        for endpoint in endpoints {
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

