import LifeboatCore
import Logging
import ServiceLifecycle

/// Runs the failover core against the real world: schedules probes, feeds results to the
/// machine, carries out its actions through the ports and journals every decision and step.
public actor Engine<C: Clock>: Service where C.Duration == Duration, C.Instant: Sendable {
    public typealias Instant = C.Instant

    public struct Settings: Sendable {
        /// Upper bound for each workflow step (fence, promote, wait writable, repoint, traffic switch).
        public var stepTimeout: Duration
        /// How often the scheduler looks for due probes and timers.
        public var tick: Duration

        /// Called after each workflow step succeeded and was journaled (tests use it to crash the
        /// monitor at a chosen step).
        public var afterStep: (@Sendable (FailoverStep) -> Void)?

        public init(stepTimeout: Duration = .seconds(10), tick: Duration = .milliseconds(5), afterStep: (@Sendable (FailoverStep) -> Void)? = nil) {
            self.stepTimeout = stepTimeout
            self.tick = tick
            self.afterStep = afterStep
        }
    }

    enum Work: Sendable {
        case probe(String)
        case step(FailoverAction)
    }

    public nonisolated let journal: InMemoryJournal<Instant>
    private var machine: FailoverMachine<C>
    private let fleet: any DatabaseFleet
    private let epochStore: any EpochStore
    private let traffic: any TrafficSwitch
    private let stateStore: (any StateStore)?
    private let clock: C
    private let settings: Settings
    private var logger: Logger
    private var nextProbe: [String: Instant] = [:]
    private var probing: Set<String> = []
    private var timers: [TimerID: Instant] = [:]
    private var workQueue: AsyncStream<Work>.Continuation?
    private let metrics: EngineMetrics
    private let notifiers: [any Notifier]
    private let cluster: String
    private var notifications: AsyncStream<Notice>.Continuation?
    /// Wall-clock seconds of the last successful DNS switch, for the metric; set by the shell.
    private let wallClock: @Sendable () -> Double

    public init(
        topology: Topology, detection: DetectionSettings, policy: FailoverPolicy,
        fleet: any DatabaseFleet, epochStore: any EpochStore, traffic: any TrafficSwitch = NoTrafficSwitch(),
        clock: C, settings: Settings = Settings(), logger: Logger, journal: InMemoryJournal<Instant> = InMemoryJournal(),
        stateStore: (any StateStore)? = nil, wallClock: @escaping @Sendable () -> Double = { 0 },
        notifiers: [any Notifier] = [], cluster: String = "lifeboat"
    ) {
        self.notifiers = notifiers
        self.cluster = cluster
        self.stateStore = stateStore
        self.metrics = EngineMetrics(topology: topology, channels: notifiers.map(\.channel))
        self.wallClock = wallClock
        self.machine = FailoverMachine(topology: topology, detection: detection, policy: policy)
        self.fleet = fleet
        self.epochStore = epochStore
        self.traffic = traffic
        self.clock = clock
        self.settings = settings
        self.logger = logger
        self.journal = journal
    }

    /// Runs until cancelled (or until graceful shutdown when in a ServiceGroup).
    public func run() async throws {
        let epoch = try await epochStore.load()
        machine = FailoverMachine(topology: machine.topology, detection: machine.detection, policy: machine.policy, epoch: epoch)
        var resume: [FailoverAction] = []
        if let saved = try stateStore?.loadSnapshot() {
            machine = FailoverMachine(restoring: saved.snapshot.aged(by: saved.age), topology: machine.topology,
                                      detection: machine.detection, policy: machine.policy, now: clock.now)
            resume = machine.resumeActions()
            logger.notice("monitor restarting", metadata: ["state": "\(machine.state.kind.rawValue)", "epoch": "\(machine.epoch)"])
        }
        logger.info("monitor starting", metadata: ["epoch": "\(machine.epoch)", "nodes": "\(machine.topology.databaseNodes.map(\.name).joined(separator: ","))"])
        let (stream, continuation) = AsyncStream.makeStream(of: Work.self)
        workQueue = continuation
        let resumedAt = clock.now
        metrics.state(machine.state.kind, epoch: machine.epoch, paused: machine.paused)
        for action in resume { dispatch(action, now: resumedAt) }
        let now = clock.now
        for node in machine.topology.databaseNodes { nextProbe[node.name] = now }

        let (notificationStream, notificationQueue) = AsyncStream.makeStream(of: Notice.self)
        notifications = notificationQueue
        await withDiscardingTaskGroup { group in
            group.addTask { await self.schedule() }
            group.addTask { await self.deliver(notificationStream) }
            for await work in stream.cancelOnGracefulShutdown() {
                group.addTask { await self.perform(work) }
            }
            notificationQueue.finish()
            group.cancelAll()
        }
        await fleet.shutdown()
        logger.info("monitor stopped", metadata: ["state": "\(machine.state.kind.rawValue)"])
    }

    /// Feeds an operator command (pause, resume, failover, reset).
    public func submit(_ event: FailoverEvent) {
        journal.append(at: clock.now, epoch: machine.epoch, kind: .operatorCommand, message: "\(event)")
        feed(event)
    }

    public var state: FailoverState<Instant> { machine.state }
    public var epoch: Epoch { machine.epoch }
    public var lastReason: String { machine.lastReason }
    public var health: [String: NodeHealth<Instant>] { machine.health }
    public var paused: Bool { machine.paused }
    public var topology: Topology { machine.topology }
    public func plan(to target: String?) -> FailoverPlan { machine.failoverPlan(to: target) }

    // MARK: Scheduling

    private func schedule() async {
        while !Task.isCancelled {
            dispatchDue()
            do { try await clock.sleep(for: settings.tick) } catch { break }
        }
        workQueue?.finish()
    }

    private func dispatchDue() {
        let now = clock.now
        for (node, due) in nextProbe where due <= now && !probing.contains(node) {
            probing.insert(node)
            nextProbe[node] = now.advanced(by: machine.detection.interval)
            workQueue?.yield(.probe(node))
        }
        for (timer, due) in timers where due <= now {
            timers[timer] = nil
            feed(.timerFired(timer))
        }
    }

    private func perform(_ work: Work) async {
        switch work {
        case .probe(let node):
            let started = clock.now
            let result = await fleet.probe(node, timeout: machine.detection.timeout)
            let primaryLSN = machine.state.primary.flatMap { machine.health[$0]?.lastStatus?.currentLSN }
            metrics.probed(node, result, took: started.duration(to: clock.now), primaryLSN: primaryLSN)
            probeFinished(node, result)
        case .step(let action):
            let event = await execute(action)
            feed(event)
        }
    }

    private func probeFinished(_ node: String, _ result: ProbeResult) {
        probing.remove(node)
        // ±5% jitter so nodes (and several monitors) are not probed in lockstep.
        nextProbe[node] = clock.now.advanced(by: machine.detection.interval * Double.random(in: 0.95...1.05))
        feed(.probed(node: node, result: result))
    }

    // MARK: Core

    private func feed(_ event: FailoverEvent) {
        let now = clock.now
        let failoverKey = Self.failoverKey(machine.state)
        let actions = machine.handle(event, now: now)
        notify(actions, failoverKey: failoverKey ?? Self.failoverKey(machine.state))
        if let stateStore, actions.contains(where: Self.changesState) {
            // Saved before any side effect runs: a restart re-issues the step in flight.
            do {
                try stateStore.saveSnapshot(machine.snapshot(now: now))
            } catch {
                logger.critical("cannot save the monitor's state: \(error)")
            }
        }
        for action in actions {
            dispatch(action, now: now)
        }
    }

    /// Tells people about the batch's alerts. A failover's start triggers and its completion
    /// resolves one incident, keyed by the failover's epoch. Never waits for delivery.
    private func notify(_ actions: [FailoverAction], failoverKey: String?) {
        guard !notifiers.isEmpty else { return }
        let completed = actions.contains { if case .transition(.switchingTraffic, .monitoring, _) = $0 { return true } else { return false } }
        let trafficResumed = actions.contains { if case .transition(.trafficNotSwitched, .monitoring, _) = $0 { return true } else { return false } }
        for case .alert(let severity, let text) in actions {
            let key = "lifeboat/\(cluster)/" + (failoverKey ?? "alert")
            let action: Notice.Action = (completed || trafficResumed) ? .resolve : .trigger
            notifications?.yield(Notice(severity: severity, summary: text, dedupKey: key, action: action, epoch: machine.epoch))
        }
    }

    private static func failoverKey(_ state: FailoverState<Instant>) -> String? {
        switch state {
        case .failingOver(let p), .failed(let p, _), .trafficNotSwitched(let p, _): return "failover-epoch-\(p.epoch)"
        case .holding: return "failover-blocked"
        case .discovering, .monitoring, .confirming: return nil
        }
    }

    /// Delivers each notification on every channel in its own task: a receiver that fails or
    /// hangs delays nothing else; failures are logged and counted.
    private nonisolated func deliver(_ stream: AsyncStream<Notice>) async {
        await withDiscardingTaskGroup { group in
            for await notification in stream {
                for notifier in notifiers {
                    group.addTask {
                        do {
                            try await notifier.send(notification)
                        } catch {
                            await self.notificationFailed(notifier.channel, error)
                        }
                    }
                }
            }
        }
    }

    private func notificationFailed(_ channel: String, _ error: any Error) {
        metrics.notificationFailed(channel)
        logger.error("notification not delivered: \(error)", metadata: ["notify.channel": "\(channel)"])
    }

    private static func changesState(_ action: FailoverAction) -> Bool {
        switch action {
        case .transition, .decision, .bumpEpoch, .fence, .fenceForSwitchover, .catchUp, .promote, .waitWritable, .repoint, .switchTraffic, .scheduleTimer, .alert: return true
        case .probe: return false
        }
    }

    private func dispatch(_ action: FailoverAction, now: Instant) {
        let epoch = machine.epoch
        switch action {
        case .transition(let from, let to, let reason):
            metrics.state(to, epoch: epoch, paused: machine.paused)
            switch (from, to) {
            case (.switchingTraffic, .monitoring): metrics.failover(outcome: "complete")
            case (_, .failed): metrics.failover(outcome: "failed")
            case (_, .trafficNotSwitched): metrics.failover(outcome: "traffic_not_switched")
            default: break
            }
            logger.notice("\(reason)", metadata: ["state.from": "\(from.rawValue)", "state.to": "\(to.rawValue)", "epoch": "\(epoch)"])
            journal.append(at: now, epoch: epoch, kind: .transition(from: from, to: to), message: reason)
        case .decision(let text):
            metrics.state(machine.state.kind, epoch: epoch, paused: machine.paused)
            logger.info("\(text)", metadata: ["epoch": "\(epoch)"])
            journal.append(at: now, epoch: epoch, kind: .decision, message: text)
        case .alert(let severity, let text):
            switch severity {
            case .info: logger.info("\(text)", metadata: ["alert": "\(severity.rawValue)"])
            case .warning: logger.warning("\(text)", metadata: ["alert": "\(severity.rawValue)"])
            case .critical: logger.critical("\(text)", metadata: ["alert": "\(severity.rawValue)"])
            }
            journal.append(at: now, epoch: epoch, kind: .alert(severity), message: text)
        case .probe(let nodes, let after):
            let due = now.advanced(by: after)
            for node in nodes where nextProbe[node].map({ due < $0 }) ?? true { nextProbe[node] = due }
        case .scheduleTimer(let id, let after):
            timers[id] = now.advanced(by: after)
        case .bumpEpoch, .fence, .fenceForSwitchover, .catchUp, .promote, .waitWritable, .repoint, .switchTraffic:
            let (step, node) = Self.describe(action)
            logger.info("starting \(step.rawValue)", metadata: ["node": "\(node ?? "-")", "epoch": "\(epoch)"])
            journal.append(at: now, epoch: epoch, kind: .stepStarted(step, node: node), message: "\(step.rawValue)\(node.map { " \($0)" } ?? "")")
            workQueue?.yield(.step(action))
        }
    }

    /// Carries out one workflow action and turns its outcome into the event the core expects.
    private func execute(_ action: FailoverAction) async -> FailoverEvent {
        let (step, node) = Self.describe(action)
        let timeout = settings.stepTimeout
        let result: Result<String, any Error>
        do {
            let detail: String
            switch action {
            case .bumpEpoch(let epoch):
                try await epochStore.store(epoch)
                detail = ""
            case .fence(let node, let epoch):
                // The old primary already failed its probes: connecting is given the probe's own
                // timeout, not the step's (a black-holed region would otherwise cost the whole step).
                let connect = max(machine.detection.timeout, .milliseconds(500))
                detail = try await fleet.fence(node, epoch: epoch, timeout: timeout, connectTimeout: connect).detail
            case .fenceForSwitchover(let node, let epoch):
                let outcome = try await fleet.fence(node, epoch: epoch, timeout: timeout)
                guard case .fenced = outcome else { throw SwitchoverError(message: "a switchover needs \(node) reachable to fence it: \(outcome.detail)") }
                detail = outcome.detail
            case .catchUp(let node, let primary, _):
                detail = try await fleet.waitCaughtUp(node, primary: primary, timeout: timeout)
            case .promote(let node, let epoch):
                detail = try await fleet.promote(node, epoch: epoch, timeout: timeout)
            case .waitWritable(let node, _):
                detail = try await fleet.waitWritable(node, timeout: timeout)
            case .repoint(let node, let primary, _):
                detail = try await fleet.repoint(node, toPrimary: primary, timeout: timeout)
            case .switchTraffic(let region, let fromRegion, let node, let epoch):
                let journal = self.journal, clock = self.clock
                detail = try await traffic.switchTraffic(
                    toRegion: region, fromRegion: fromRegion, node: node, epoch: epoch, timeout: timeout,
                    progress: { note in journal.append(at: clock.now, epoch: epoch, kind: .stepProgress(.switchTraffic), message: note) }
                )
            case .transition, .decision, .probe, .scheduleTimer, .alert:
                detail = ""
            }
            result = .success(detail)
        } catch {
            result = .failure(error)
        }
        let now = clock.now
        switch result {
        case .success(let detail):
            if step == .switchTraffic, detail.contains("DNS switched") { metrics.lastDNSSwitch.record(wallClock()) }
            journal.append(at: now, epoch: machine.epoch, kind: .stepSucceeded(step, node: node), message: detail.isEmpty ? step.rawValue : detail)
            settings.afterStep?(step)
            return .stepSucceeded(step, node: node, detail: detail)
        case .failure(let error):
            journal.append(at: now, epoch: machine.epoch, kind: .stepFailed(step, node: node), message: "\(error)")
            return .stepFailed(step, node: node, error: "\(error)")
        }
    }

    private static func describe(_ action: FailoverAction) -> (FailoverStep, String?) {
        switch action {
        case .bumpEpoch: return (.bumpEpoch, nil)
        case .fence(let node, _), .fenceForSwitchover(let node, _): return (.fence, node)
        case .catchUp(let node, _, _): return (.catchUp, node)
        case .promote(let node, _): return (.promote, node)
        case .waitWritable(let node, _): return (.waitWritable, node)
        case .repoint(let node, _, _): return (.repoint, node)
        case .switchTraffic(_, _, let node, _): return (.switchTraffic, node)
        case .transition, .decision, .probe, .scheduleTimer, .alert: return (.bumpEpoch, nil)
        }
    }
}

struct SwitchoverError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
