import ArgumentParser
import Foundation
import LifeboatConfig
import LifeboatDNS
import LifeboatSandbox
import Logging

extension Lifeboat {
    /// A partition drill's client: runs inside a region's network namespace and writes numbered rows,
    /// printing each acknowledged write for the drill. Not for operators (hidden from --help).
    struct DrillClient: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drill-client",
            abstract: "A partition drill's client (used by lifeboat drill; prints 'ack SEQ NODE MONOTONIC_NS' per acknowledged write).",
            shouldDisplay: false
        )

        @Option(help: "Write to this database host only, reconnecting to it after an error (a client that keeps its region's server).")
        var host: String?

        @Option(help: "Resolve this name for each new connection (with --dns-server).")
        var name: String?

        @Option(help: "The authoritative DNS server to resolve --name at, HOST:PORT.")
        var dnsServer: String?

        @Option(help: "The zone --name is in.")
        var zone: String?

        @Option(help: "PostgreSQL port.")
        var port = 5432

        @Option(help: "The first sequence number this client writes (clients of different regions use different ranges).")
        var firstSeq = 1

        @Option(help: "Pause between writes, in milliseconds.")
        var pauseMs = 50

        @Option(help: "Stop after this many seconds at most.")
        var maxSeconds = 600

        func validate() throws {
            guard (host == nil) != (name == nil) else { throw ValidationError("give exactly one of --host and --name") }
            if name != nil, dnsServer == nil || zone == nil { throw ValidationError("--name needs --dns-server and --zone") }
            guard (1...10_000).contains(pauseMs) else { throw ValidationError("--pause-ms must be between 1 and 10000") }
            guard (1...3600).contains(maxSeconds) else { throw ValidationError("--max-seconds must be between 1 and 3600") }
            guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        }

        func run() async throws {
            let target: WorkloadWriter.Target
            if let host {
                target = .anyWritable([DatabaseNodeConfig(name: host, region: "", host: host, port: port, user: "postgres", database: "postgres")])
            } else {
                guard let server = dnsServer.flatMap({ HostPort(parsing: $0, defaultPort: 53) }), let name, let zone else {
                    throw ValidationError("--dns-server must be HOST:PORT")
                }
                target = .dns(name: try DNSName(name), server: DNSServer(host: server.host, port: server.port), zone: try DNSName(zone), port: port)
            }
            let time = MonotonicTime()
            let writer = WorkloadWriter(target: target, pause: .milliseconds(pauseMs), firstSeq: firstSeq, onAck: { ack in
                // One unbuffered write per line: the drill reads them as they come.
                FileHandle.standardOutput.write(Data("ack \(ack.seq) \(ack.node) \(time.nanoseconds(of: ack.at))\n".utf8))
            }, logger: Logger(label: "drill-client") { _ in SwiftLogNoOpLogHandler() })
            let task = Task { await writer.run() }
            // Bounded: the drill stops the client with SIGTERM long before this.
            try? await Task.sleep(for: .seconds(maxSeconds))
            await writer.stop()
            await task.value
        }
    }
}
