import ArgumentParser
import Foundation
import Hummingbird
import NIOCore
import LifeboatAgent
import LifeboatConfig
import LifeboatHTTP
import Logging
import ServiceLifecycle

extension Lifeboat {
    struct AgentCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "agent",
            abstract: "Run the node agent: /healthz, role endpoints, signed actions and file replication.",
            discussion: """
                Run one agent on every database and application node. It serves:
                  GET /healthz   every check at once, each with its own timeout;
                                 200 when all pass, else 503; JSON per check
                  GET /primary   200 only while the local PostgreSQL takes writes
                  GET /replica   200 only while it is a standby
                  GET /metrics   Prometheus text format
                  POST /v1/actions/{fence,status,sync-now,seal,promise}
                                 for the monitor, and /v1/actions/failsafe for
                                 the primary's agent: HMAC-SHA256 signed with
                                 the shared key for this node and an epoch;
                                 unsigned, stale (30 s), replayed or other-node
                                 requests get 401 and nothing runs
                With a lease: section, the primary's agent renews the primary's
                lease with the monitor and fences its own PostgreSQL when it
                cannot; in failsafe mode it keeps the lease while every other
                node's agent promises not to be promoted.
                With a files: section, an agent in a standby region pulls those
                directories from the primary region with rsync every interval,
                following the epoch the monitor announces. See docs/agent.md.
                Stops cleanly on SIGTERM or SIGINT. Logs go to stderr.
                """
        )

        @Option(name: [.short, .long], help: "The agent's config file.")
        var config: String = "/etc/lifeboat/agent.yml"

        @Flag(help: "Check the config file, print every problem with file:line:column, and exit (0: valid).")
        var validate = false

        @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
        var logLevel: Logger.Level = .info

        @Option(help: ArgumentHelp(
            "Before PostgreSQL starts (ExecStartPre= of its unit): make the server in this data directory start read-only unless it is a standby; the running agent lifts that once the monitor grants this node the primary's lease. Needs a lease: section. Exits.",
            valueName: "data-directory"))
        var prepareStart: String?

        func run() async throws {
            let loaded = try loadingConfig { try AgentConfigParser.load(path: config) }
            if let prepareStart {
                guard loaded.lease != nil else {
                    printError("\(config): --prepare-start needs a lease: section (without a lease nothing would lift the read-only start)")
                    throw ExitCode(1)
                }
                guard let stateFile = loaded.stateFile else {
                    printError("\(config): --prepare-start needs state_file (where the agent finds the read-only start's marker)")
                    throw ExitCode(1)
                }
                do {
                    print(try ReadOnlyStart.prepare(dataDirectory: prepareStart, stateFile: stateFile))
                } catch {
                    printError("lifeboat agent --prepare-start: \(error)")
                    throw ExitCode(1)
                }
                return
            }
            if validate {
                for warning in loaded.warnings { printError(warning.description) }
                print("\(config): valid: node \(loaded.node) in \(loaded.region), \(loaded.checks.count) checks, "
                      + "fence \(loaded.fence.name), \(loaded.files.map { "\($0.paths.count) replicated paths" } ?? "no file replication")")
                return
            }
            bootstrapLogging(logLevel)
            var logger = Logger(label: "lifeboat.agent")
            logger[metadataKey: "node"] = "\(loaded.node)"
            for warning in loaded.warnings { logger.warning("\(warning.description)") }
            let agent: Agent
            do {
                agent = try Agent(config: loaded, logger: logger)
            } catch {
                printError("\(config): \(error)")
                throw ExitCode(1)
            }
            let app: GracefulServer
            do {
                app = try buildAgentApplication(agent: agent, logger: logger)
            } catch {
                printError("\(config): tls: \(error)")
                throw ExitCode(1)
            }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app)]
            if let replicator = agent.replicator { services.append(.init(service: ReplicationService(replicator: replicator))) }
            if let keeper = agent.leaseKeeper { services.append(.init(service: LeaseService(keeper: keeper))) }
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            logger.info("agent starting", metadata: ["listen": "\(loaded.listen)", "region": "\(loaded.region)", "tls": "\(agent.serverTLS != nil)"])
            do {
                try await group.run()
            } catch {
                await agent.shutdown()
                let inUse = (error as? IOError)?.errnoCode == EADDRINUSE
                let text = inUse ? "address already in use (another agent running?)" : "\(error)"
                printError("lifeboat agent: cannot serve on \(loaded.listen) (listen in \(config)): \(text)")
                throw ExitCode(1)
            }
            await agent.shutdown()
        }
    }
}

/// The periodic pull, stopped by the service group's graceful shutdown.
/// The lease keeper's loop as a service of the agent's group.
struct LeaseService: Service {
    let keeper: LeaseKeeper

    func run() async throws {
        let loop = Task { await keeper.run() }
        try? await gracefulShutdown()
        loop.cancel()
        _ = await loop.value
    }
}

struct ReplicationService: Service {
    let replicator: FileReplicator

    func run() async throws {
        let loop = Task { await replicator.run() }
        // Returning early would end the group: wait for shutdown, then stop the loop.
        try? await gracefulShutdown()
        loop.cancel()
        _ = await loop.value
    }
}
