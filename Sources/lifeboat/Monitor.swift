import ArgumentParser
import Foundation
import LifeboatAgent
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import Hummingbird
import LifeboatEngine
import LifeboatHTTP
import LifeboatNotify
import LifeboatProbes
import LifeboatPostgres
import LifeboatStore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

extension Lifeboat {
    struct Monitor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch the regions and fail over when the primary is lost (the long-running daemon).",
            discussion: """
                Probes every database node, decides with the failover state machine, and carries out \
                failovers (fence, promote, repoint, switch DNS). Every decision and step is journaled in \
                the state file, which also holds the fencing epoch and where a failover stands: a monitor \
                killed mid-failover finishes it on restart without a second promotion or epoch bump. \
                Stops cleanly on SIGTERM or SIGINT. Logs go to stderr.
                """
        )

        @Option(name: [.short, .long], help: "The config file.")
        var config: String = "/etc/lifeboat/lifeboat.yml"

        @Option(help: "The state file (SQLite), created with owner-only permissions.")
        var state: String = "/var/lib/lifeboat/state.db"

        @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
        var logLevel: Logger.Level = .info

        func run() async throws {
            let loaded = try loadingConfig { try ConfigLoader.load(path: config) }
            bootstrapLogging(logLevel)
            let logger = Logger(label: "lifeboat.monitor")
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            for warning in loaded.warnings { logger.warning("\(warning.description)") }

            let fleet: any DatabaseFleet
            var agentTargets: [AgentCoordinator.Target] = []
            let traffic: any TrafficSwitch
            let store: SQLiteStateStore
            let token: String
            var notifiers: [any Notifier] = []
            do {
                let n = loaded.notify
                if let slack = n.slackWebhook { notifiers.append(SlackNotifier(webhookURL: try slack.resolve().reveal(), cluster: loaded.cluster)) }
                if let key = n.pagerDutyKey {
                    notifiers.append(PagerDutyNotifier(routingKey: try key.resolve().reveal(), cluster: loaded.cluster,
                                                       source: ProcessInfo.processInfo.hostName, url: n.pagerDutyURL))
                }
                if let url = n.webhookURL, let secret = n.webhookSecret {
                    notifiers.append(WebhookNotifier(url: url, secret: try secret.resolve().reveal(), cluster: loaded.cluster))
                }
                token = try loaded.api.token?.resolve().reveal() ?? ""
                let postgres = try PostgresFleet(nodes: loaded.databaseNodes, logger: logger)
                if let agents = loaded.agents {
                    let key = try agents.key.resolve().reveal()
                    agentTargets = loaded.databaseNodes.compactMap { node in
                        node.agent.map { AgentCoordinator.Target(node: node.name, region: node.region, client: AgentClient(baseURL: $0, key: key)) }
                    } + loaded.services.flatMap(\.nodes).compactMap { node in
                        node.agent.map { AgentCoordinator.Target(node: node.name, region: node.region, client: AgentClient(baseURL: $0, key: key)) }
                    }
                    let fencing = Dictionary(uniqueKeysWithValues: loaded.databaseNodes.compactMap { node in
                        node.agent.map { (node.name, AgentClient(baseURL: $0, key: key)) }
                    })
                    fleet = AgentFencingFleet(base: postgres, agents: fencing)
                } else {
                    fleet = postgres
                }
                traffic = try loaded.dns.map { try TrafficSwitchFactory.make($0) } ?? NoTrafficSwitch()
                store = try SQLiteStateStore(path: state)
            } catch {
                printError("lifeboat monitor: \(error)")
                throw ExitCode(1)
            }
            let journal = InMemoryJournal<ContinuousClock.Instant>(sink: { epoch, kind, message in
                let stored = kind.stored
                do {
                    try store.record(epoch: epoch, kind: stored.kind, step: stored.step, node: stored.node, message: message)
                } catch {
                    logger.critical("cannot write the journal: \(error)")
                }
            })
            let engine = Engine(
                topology: loaded.topology, detection: loaded.detection, policy: loaded.failover, fleet: fleet,
                epochStore: store, traffic: traffic, clock: ContinuousClock(),
                settings: Engine.Settings(afterStep: Self.crashHookForTests()), logger: logger, journal: journal, stateStore: store,
                wallClock: { Date().timeIntervalSince1970 }, notifiers: notifiers, cluster: loaded.cluster
            )
            if token.isEmpty { logger.warning("api: no token configured; mutating API calls are refused") }
            let serviceMonitor = ServiceMonitor(targets: Self.serviceTargets(loaded), interval: loaded.detection.interval * 2,
                                                timeout: loaded.detection.timeout, logger: logger)
            let regionOf = Dictionary(uniqueKeysWithValues: loaded.databaseNodes.map { ($0.name, $0.region) })
            let coordinator = agentTargets.isEmpty ? nil : AgentCoordinator(
                targets: agentTargets, interval: loaded.agents?.interval ?? .seconds(15), timeout: loaded.agents?.timeout ?? .seconds(2),
                logger: logger, settledOrder: { await EngineControl.settledOrder(engine, regionOf: regionOf) })
            let control = EngineControl(cluster: loaded.cluster, engine: engine, store: store, services: serviceMonitor, agents: coordinator)
            let router = buildRouter(control: control, token: token, metrics: {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return EngineMetrics.annotate(String(decoding: buffer, as: UTF8.self))
            })
            let api = Application(
                router: router,
                configuration: .init(address: .hostname(loaded.api.listen.host, port: loaded.api.listen.port), serverName: "lifeboat"),
                logger: logger
            )
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: engine), .init(service: serviceMonitor), .init(service: api)]
                    + (coordinator.map { [.init(service: $0)] } ?? []), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            )
            try await group.run()
        }

        /// Application health checks from the services: section.
        static func serviceTargets(_ config: LifeboatConfiguration) -> [ServiceMonitor.Target] {
            config.services.flatMap { service in
                service.nodes.map { node -> ServiceMonitor.Target in
                    let check: any HealthCheck
                    if let url = URL(string: node.health), url.scheme == "tcp", let host = url.host, let port = url.port {
                        check = TCPHealthCheck(host: host, port: port)
                    } else {
                        check = HTTPHealthCheck(url: node.health, expectBody: node.healthBody)
                    }
                    return ServiceMonitor.Target(service: service.name, node: node.name, region: node.region, check: check)
                }
            }
        }

        /// `LIFEBOAT_TEST_CRASH_AFTER_STEP=promote` makes the process exit (status 70) right after
        /// that workflow step succeeded: the crash-resume tests kill the monitor at every step this way.
        static func crashHookForTests() -> (@Sendable (FailoverStep) -> Void)? {
            guard let name = ProcessInfo.processInfo.environment["LIFEBOAT_TEST_CRASH_AFTER_STEP"],
                  let step = FailoverStep(rawValue: name) else { return nil }
            return { finished in
                if finished == step { _exit(70) }
            }
        }
    }
}
