import Foundation
import AsyncHTTPClient
import Hummingbird
import HummingbirdTLS
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatEngine
import LifeboatEtcd
import LifeboatHTTP
import LifeboatNotify
import LifeboatPorts
import LifeboatPostgres
import LifeboatProbes
import LifeboatStore
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The one way a running monitor is built, for `lifeboat monitor` and for the drill: the
/// PostgreSQL fleet (fencing through node agents when configured), the traffic switch, the
/// notifiers, the SQLite state store and its monitor id, the engine (or, with several monitors
/// over etcd, the election and an engine per term of leadership), application checks, the agent
/// coordinator and the HTTP API, in one ServiceGroup. Every secret is resolved here, so a
/// missing one fails at start, not mid-failover.
public struct MonitorAssembly: Sendable {
    /// The engine of a single monitor (nil with several monitors over etcd: see `slot`).
    public let engine: Engine<ContinuousClock>?
    /// The engine that acts now (with several monitors, only while this one leads).
    public let slot: EngineSlot
    /// This monitor's own state file (with several monitors it holds only the monitor's id).
    public let store: SQLiteStateStore
    public let coordinator: AgentCoordinator?
    public let services: ServiceMonitor
    public let control: EngineControl
    /// Where the API listens.
    public let api: HostPort
    private let group: ServiceGroup

    public struct Options: Sendable {
        /// Engine settings (step timeouts, the crash hook of the crash-resume tests).
        public var engine: Engine<ContinuousClock>.Settings
        /// Signals that stop the monitor gracefully (none when the caller cancels it, as the drill does).
        public var signals: [UnixSignal]
        /// Serves `/metrics` from this registry (the process must have bootstrapped swift-metrics with it).
        public var metrics: PrometheusCollectorRegistry?
        /// Replaces the notifiers the config names (tests, drills).
        public var notifiers: [any Notifier]?
        public var environment: [String: String]

        public init(engine: Engine<ContinuousClock>.Settings = .init(), signals: [UnixSignal] = [.sigterm, .sigint],
                    metrics: PrometheusCollectorRegistry? = nil, notifiers: [any Notifier]? = nil,
                    environment: [String: String] = ProcessInfo.processInfo.environment) {
            self.engine = engine
            self.signals = signals
            self.metrics = metrics
            self.notifiers = notifiers
            self.environment = environment
        }
    }

    public init(config: LifeboatConfiguration, statePath: String, logger: Logger, options: Options = Options()) throws {
        let environment = options.environment
        let notifiers = try options.notifiers ?? Self.notifiers(config, environment: environment)
        let token = try config.api.token?.resolve(environment: environment).reveal() ?? ""
        // tls: the API over HTTPS, and calls to https:// agents trusting its CA.
        let tlsFiles = config.tls.map { TLSFiles(certFile: $0.certFile, keyFile: $0.keyFile, caFile: $0.caFile,
                                                requireClientCertificates: $0.clientCertificates == .require) }
        let serverTLS = try tlsFiles?.server()
        let clientTLS = try tlsFiles?.client()
        let agentHTTP = HTTPClient.lifeboat(tls: clientTLS)
        var agents: [any NodeAgent] = []
        let agentKey = try config.agents.map { try $0.key.resolve(environment: environment).reveal() }
        if let key = agentKey {
            let nodes = config.databaseNodes.map { ($0.name, $0.region, $0.agent) } + config.services.flatMap(\.nodes).map { ($0.name, $0.region, $0.agent) }
            agents = nodes.compactMap { name, region, url in
                url.map { HTTPNodeAgent(node: name, region: region, client: AgentClient(baseURL: $0, node: name, key: key, http: agentHTTP, tls: clientTLS)) }
            }
        }
        var settings = options.engine
        let power = try config.fencing.map { fencing -> LinodePowerSwitch in
            // Escalation's last step: the old primary's machine powered off through Linode's API.
            let client = LinodeInstancesClient(baseURL: fencing.linode.apiURL, token: try fencing.linode.token.resolve(environment: environment))
            let instances = Dictionary(uniqueKeysWithValues: config.databaseNodes.compactMap { node in node.linodeID.map { (node.name, $0) } })
            // The fence step has time to see the machine off.
            settings.stepTimeouts[.fence] = max(settings.timeout(for: .fence), fencing.wait + .seconds(5))
            return LinodePowerSwitch(client: client, instances: instances)
        }
        // Secrets are resolved now, so a missing one fails at start; each engine gets a fleet of its own.
        _ = try PostgresFleet(nodes: config.databaseNodes, logger: logger, environment: environment)
        let seal = Self.failsafePeers(config) != nil
        let makeFleet: @Sendable () throws -> any DatabaseFleet = {
            var fleet: any DatabaseFleet = try PostgresFleet(nodes: config.databaseNodes, logger: logger, environment: environment)
            if let key = agentKey {
                let fencing = Dictionary(uniqueKeysWithValues: config.databaseNodes.compactMap { node in
                    node.agent.map { (node.name, AgentClient(baseURL: $0, node: node.name, key: key, http: agentHTTP, tls: clientTLS)) }
                })
                fleet = AgentFencingFleet(base: fleet, agents: fencing, seal: seal)
            }
            if let power, let wait = config.fencing?.wait { fleet = PowerFencingFleet(base: fleet, power: power, wait: wait) }
            return fleet
        }
        // failover.trigger: region with DNS: the primary region's record keeps only healthy application nodes.
        let regionMembers: RegionMembers? = config.failover.trigger == .region && config.dns != nil ? RegionMembers() : nil
        let dnsSwitch = try config.dns.map { try TrafficSwitchFactory.make($0, environment: environment, members: regionMembers) }
        let traffic: any TrafficSwitch = try TrafficSwitchFactory.make(config, dns: dnsSwitch, environment: environment)
        let local = try SQLiteStateStore(path: statePath)
        let owner = try local.monitorID()
        let engineSettings = settings
        let makeEngine: @Sendable (any EpochStore, any StateStore, Bool) throws -> Engine<ContinuousClock> = { epochStore, stateStore, shared in
            var settings = engineSettings
            settings.sharedState = shared
            return Engine(
                topology: config.topology, detection: config.detection, policy: config.failover, fleet: try makeFleet(),
                epochStore: epochStore, traffic: traffic, clock: ContinuousClock(), settings: settings, logger: logger,
                stateStore: stateStore, owner: owner, wallClock: { Date().timeIntervalSince1970 },
                notifiers: notifiers, cluster: config.cluster
            )
        }
        let slot: EngineSlot
        let journal: any StateStore
        var terms: LeaderTerms?
        if let etcd = config.etcd {
            // Several monitors: the leading one's engine keeps the epoch, state and journal in etcd.
            let client = EtcdClient(endpoints: etcd.endpoints, timeout: .milliseconds(Int64(etcd.sessionTTLSeconds) * 1000 / 3))
            let leadership = EtcdLeadership(client: client, cluster: config.cluster, monitor: owner,
                                            api: etcd.advertise ?? "\(serverTLS == nil ? "http" : "https")://\(config.api.listen.host):\(config.api.listen.port)",
                                            ttlSeconds: etcd.sessionTTLSeconds, logger: logger)
            slot = EngineSlot(leadership: leadership)
            journal = EtcdStateStore(client: client, cluster: config.cluster) { nil }
            terms = LeaderTerms(leadership: leadership, slot: slot, make: { term in
                let guarded = EtcdStateStore(client: client, cluster: config.cluster) {
                    await leadership.currentTerm() == term ? term : nil
                }
                let current: @Sendable () async -> EtcdLeadership.Term? = { await leadership.currentTerm() == term ? term : nil }
                return try makeEngine(EtcdEpochStore(client: client, cluster: config.cluster, term: current), guarded, true)
            }, logger: logger)
            engine = nil
        } else {
            let fixed = try makeEngine(local, local, false)
            slot = EngineSlot(fixed: fixed)
            journal = local
            engine = fixed
        }
        if token.isEmpty { logger.warning("api: no token configured; mutating API calls are refused") }
        let services = ServiceMonitor(targets: Self.serviceTargets(config), interval: config.detection.interval * 2,
                                      timeout: config.detection.timeout, failureThreshold: config.detection.failureThreshold,
                                      recoveryThreshold: config.detection.recoveryThreshold, suspectInterval: config.detection.suspectInterval, logger: logger)
        var appTier: AppTierWatcher?
        if !config.services.isEmpty {
            let witnesses = agents.compactMap { agent -> AppTierWatcher.Witness? in
                guard let http = agent as? HTTPNodeAgent else { return nil }
                return AppTierWatcher.Witness(node: http.node, region: http.region, client: http.client)
            }
            appTier = AppTierWatcher(config: config, services: services, witnesses: witnesses, slot: slot, members: regionMembers,
                                     dns: regionMembers == nil ? nil : dnsSwitch,
                                     logger: logger)
        }
        let failsafeOn = Self.failsafePeers(config) != nil
        let promiseInterval: Duration = min(.seconds(1), (config.failover.leaseTTL ?? .seconds(3)) / 3)
        let failsafeView: (@Sendable (String, String?, Duration) async -> Void)? = failsafeOn
            ? { @Sendable node, holder, remaining in await slot.engine?.failsafePromise(node: node, holder: holder, remaining: remaining) } : nil
        let coordinator = agents.isEmpty ? nil : AgentCoordinator(
            agents: agents, interval: config.agents?.interval ?? .seconds(15), timeout: config.agents?.timeout ?? .seconds(2),
            logger: logger, settledOrder: { await slot.engine?.settledOrder },
            failsafe: failsafeView, promiseInterval: promiseInterval)
        // The durability and slot managers' own connections to every database node.
        var servers: [String: PostgresNode] = [:]
        if config.failover.durability.managed || config.failover.slots.managed {
            for node in config.databaseNodes {
                servers[node.name] = PostgresNode(config: node, password: try node.password.map { try $0.resolve(environment: environment) }, logger: logger)
            }
        }
        let slotManager = config.failover.slots.managed
            ? SlotManager(policy: config.failover.slots, slot: slot, nodes: servers, topology: config.topology, logger: logger) : nil
        var rejoins: RejoinCoordinator?
        if let key = agentKey {
            let clients = Dictionary(uniqueKeysWithValues: config.databaseNodes.compactMap { node in
                node.agent.map { (node.name, AgentClient(baseURL: $0, node: node.name, key: key, http: agentHTTP, tls: clientTLS)) }
            })
            let addresses = Dictionary(uniqueKeysWithValues: config.databaseNodes.map { ($0.name, RejoinCoordinator.Address(host: $0.host, port: $0.port)) })
            if !clients.isEmpty {
                rejoins = RejoinCoordinator(targets: clients, addresses: addresses, slot: slot, topology: config.topology,
                                            policy: config.failover.rejoin, slots: slotManager, logger: logger)
            }
        }
        var control = EngineControl(cluster: config.cluster, topology: config.topology, slot: slot, store: journal, services: services, agents: coordinator)
        control.rejoins = rejoins
        var exposition: (@Sendable () -> String)?
        if let registry = options.metrics {
            exposition = {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return EngineMetrics.annotate(String(decoding: buffer, as: UTF8.self))
            }
        }
        let router = buildRouter(control: control, token: token, metrics: exposition)
        if let key = agentKey {
            LeaseRoutes.add(to: router, slot: slot, key: key,
                            nodes: Set(config.databaseNodes.filter { $0.agent != nil }.map(\.name)), peers: Self.failsafePeers(config), logger: logger)
        }
        let app = Application(
            router: router,
            server: try serverTLS.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname(config.api.listen.host, port: config.api.listen.port), serverName: "lifeboat"),
            logger: logger
        )
        var members: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: services), .init(service: GracefulServer(app, logger: logger))]
        if let engine { members.insert(.init(service: engine), at: 0) }
        if let terms { members.insert(.init(service: terms), at: 0) }
        if let coordinator { members.append(.init(service: coordinator)) }
        if let appTier { members.append(.init(service: appTier)) }
        if let rejoins { members.append(.init(service: rejoins)) }
        if let slotManager { members.append(.init(service: slotManager)) }
        if config.failover.durability.managed {
            members.append(.init(service: DurabilityManager(policy: config.failover.durability, slot: slot, nodes: servers, topology: config.topology, logger: logger)))
        }
        group = ServiceGroup(configuration: .init(services: members, gracefulShutdownSignals: options.signals, logger: logger))
        self.slot = slot
        self.store = local
        self.coordinator = coordinator
        self.services = services
        self.control = control
        self.api = config.api.listen
    }

    /// Runs every service until a shutdown signal, the caller's cancellation, or one of them fails.
    public func run() async throws { try await group.run() }

    static func notifiers(_ config: LifeboatConfiguration, environment: [String: String]) throws -> [any Notifier] {
        var notifiers: [any Notifier] = []
        let n = config.notify
        if let slack = n.slackWebhook {
            notifiers.append(SlackNotifier(webhookURL: try slack.resolve(environment: environment).reveal(), cluster: config.cluster))
        }
        if let key = n.pagerDutyKey {
            notifiers.append(PagerDutyNotifier(routingKey: try key.resolve(environment: environment).reveal(), cluster: config.cluster,
                                               source: ProcessInfo.processInfo.hostName, url: n.pagerDutyURL))
        }
        if let url = n.webhookURL, let secret = n.webhookSecret {
            notifiers.append(WebhookNotifier(url: url, secret: try secret.resolve(environment: environment).reveal(), cluster: config.cluster))
        }
        return notifiers
    }

    /// Application health checks from the services: section.
    public static func serviceTargets(_ config: LifeboatConfiguration) -> [ServiceMonitor.Target] {
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

    /// Failsafe mode is on when a lease is, `failover.failsafe` is not false, and every database node
    /// has an agent (the primary must be able to ask each standby for its promise): the agents' URLs.
    static func failsafePeers(_ config: LifeboatConfiguration) -> [String: String]? {
        guard config.failover.failsafe, config.failover.leaseTTL != nil, config.agents != nil else { return nil }
        var peers: [String: String] = [:]
        for node in config.databaseNodes {
            guard let url = node.agent else { return nil }
            peers[node.name] = url
        }
        return peers
    }
}
