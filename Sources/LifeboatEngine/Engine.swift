import LifeboatCore
import LifeboatPorts
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the failover core against the real world: schedules probes, feeds results to the
/// machine one event at a time, saves each decision before carrying out its actions, runs every
/// action under a deadline it enforces itself, and journals every decision and step.
public actor Engine<C: Clock>: Service where C.Duration == Duration, C.Instant: Sendable {
    public typealias Instant = C.Instant

    /// What an operator's command came to, as the engine answers it.
    public enum CommandReply: Sendable, Equatable {
        case outcome(CommandOutcome)
        /// The decision could not be saved, so nothing was done.
        case notSaved(String)
        /// The engine is not running.
        case notRunning
    }

    enum Work: Sendable {
        case probe(String)
        case step(FailoverAction)
    }

    /// One event on its way into the machine, with the journal lines already recorded in memory
    /// that must be persisted with its decision (a step's progress notes).
    struct Inbound: Sendable {
        var event: FailoverEvent
        var persistOnly: [JournalLine] = []
        var reply: CheckedContinuation<CommandReply, Never>?
        var leaseReply: CheckedContinuation<LeaseAnswer, Never>?
    }

    public nonisolated let journal: InMemoryJournal<Instant>
    /// This monitor's id: the owner it stores epochs under.
    public nonisolated let owner: String
    private var machine: FailoverMachine<C>
    private let fleet: any DatabaseFleet
    private let epochStore: any EpochStore
    private let traffic: any TrafficSwitch
    private let stateStore: (any StateStore)?
    private let clock: C
    private let settings: Settings
    private let logger: Logger
    private var nextProbe: [String: Instant] = [:]
    private var probing: Set<String> = []
    private var timers: [TimerID: Instant] = [:]
    private var deferred: [(inbound: Inbound, due: Instant)] = []
    private let events: AsyncStream<Inbound>
    private let eventsIn: AsyncStream<Inbound>.Continuation
    private var workQueue: AsyncStream<Work>.Continuation?
    private let metrics: EngineMetrics
    private let notifiers: [any Notifier]
    private let cluster: String
    private var notifications: AsyncStream<Notice>.Continuation?
    /// The facts last saved (ages zeroed): a decision that changes none and says nothing is not saved again.
    private var savedFacts: MachineSnapshot?
    private var saveFailing = false
    /// The last "cannot save" error logged for a decision with nothing to act on.
    private var lastSaveError: String?
    private var probesFed = 0
    /// Wall-clock seconds of the last successful DNS switch, for the metric; set by the shell.
    private let wallClock: @Sendable () -> Double

    public init(
        topology: Topology, detection: DetectionSettings, policy: FailoverPolicy,
        fleet: any DatabaseFleet, epochStore: any EpochStore, traffic: any TrafficSwitch = NoTrafficSwitch(),
        clock: C, settings: Settings = Settings(), logger: Logger, journal: InMemoryJournal<Instant> = InMemoryJournal(),
        stateStore: (any StateStore)? = nil, owner: String = "lifeboat-monitor", wallClock: @escaping @Sendable () -> Double = { 0 },
        notifiers: [any Notifier] = [], cluster: String = "lifeboat"
    ) {
        self.notifiers = notifiers
        self.cluster = cluster
        self.stateStore = stateStore
        self.owner = owner
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
        (events, eventsIn) = AsyncStream.makeStream(of: Inbound.self)
    }

    /// Runs until cancelled (or until graceful shutdown when in a ServiceGroup). Throws when the
    /// epoch store or the saved state cannot be read: a monitor that does not know its epoch
    /// must not act.
    public func run() async throws {
        let resume = try await restore()
        let (stream, continuation) = AsyncStream.makeStream(of: Work.self)
        workQueue = continuation
        let (notificationStream, notificationQueue) = AsyncStream.makeStream(of: Notice.self)
        notifications = notificationQueue
        metrics.state(machine.state.kind, epoch: machine.epoch, paused: machine.paused)
        let now = clock.now
        if !resume.isEmpty {
            let lines = journalLines(for: resume, event: nil, epoch: machine.epoch)
            record(lines, at: now)
            if let stateStore {
                do { try await stateStore.append(lines) } catch { logger.error("cannot write the journal: \(error)") }
            }
            dispatch(resume, now: now)
        }
        for node in machine.topology.databaseNodes { nextProbe[node.name] = now }

        let events = self.events
        await withDiscardingTaskGroup { group in
            group.addTask { await self.schedule() }
            group.addTask { await self.deliver(notificationStream) }
            group.addTask {
                for await inbound in events { await self.process(inbound) }
            }
            for await work in stream.cancelOnGracefulShutdown() {
                group.addTask { await self.perform(work) }
            }
            eventsIn.finish()
            notificationQueue.finish()
            group.cancelAll()
        }
        await fleet.shutdown()
        logger.info("monitor stopped", metadata: ["state": "\(machine.state.kind.rawValue)"])
    }

    private func restore() async throws -> [FailoverAction] {
        let stored = try await epochStore.load()
        let topology = machine.topology, detection = machine.detection, policy = machine.policy
        var resume: [FailoverAction] = []
        if let saved = try await stateStore?.loadSnapshot() {
            machine = FailoverMachine(restoring: saved.snapshot.aged(by: saved.age), stored: stored,
                                      owner: settings.sharedState ? stored.owner : owner, topology: topology,
                                      detection: detection, policy: policy, now: clock.now)
            resume = machine.resumeActions()
            logger.notice("monitor restarting", metadata: ["state": "\(machine.state.kind.rawValue)", "epoch": "\(machine.epoch)"])
        } else {
            machine = FailoverMachine(topology: topology, detection: detection, policy: policy, epoch: stored.epoch)
        }
        machine.started(now: clock.now)
        savedFacts = machine.snapshot(now: clock.now).facts
        logger.info("monitor starting", metadata: [
            "epoch": "\(machine.epoch)", "monitor.id": "\(owner)", "nodes": "\(topology.databaseNodes.map(\.name).joined(separator: ","))",
        ])
        return resume
    }

    /// Feeds an operator command (pause, resume, failover, switchover, reset) and answers once the
    /// machine has decided and the decision is saved.
    public func submit(_ event: FailoverEvent) async -> CommandReply {
        await withCheckedContinuation { (continuation: CheckedContinuation<CommandReply, Never>) in
            if case .terminated = eventsIn.yield(Inbound(event: event, reply: continuation)) {
                continuation.resume(returning: .notRunning)
            }
        }
    }

    /// A lease request from a node's agent, answered once the machine has decided.
    public func lease(_ request: LeaseRequest) async -> LeaseAnswer {
        await withCheckedContinuation { (continuation: CheckedContinuation<LeaseAnswer, Never>) in
            if case .terminated = eventsIn.yield(Inbound(event: .lease(request), leaseReply: continuation)) {
                continuation.resume(returning: .refused(.notInUse))
            }
        }
    }

    /// The primary's lease as this monitor granted it.
    public var lease: PrimaryLease<Instant>? { machine.lease }

    /// A standby's agent reported the failsafe promise it holds (nil holder: none).
    /// A region's application tier as the monitor and other regions' agents see it.
    public func appTier(region: String, verdict: AppTierVerdict) {
        eventsIn.yield(Inbound(event: .appTier(region: region, verdict: verdict)))
    }

    public func failsafePromise(node: String, holder: String?, remaining: Duration) {
        eventsIn.yield(Inbound(event: .failsafePromise(node: node, holder: holder, remaining: remaining)))
    }

    public var failsafePromises: [String: FailsafePromise<Instant>] { machine.failsafePromises }

    /// What the lease says about `node` now.
    public func leaseView(of node: String) -> LeaseView<Instant> { machine.leaseView(of: node, now: clock.now) }

    /// What `event` would come to now, decided by the machine's own `handle` on a copy.
    public func preview(_ event: FailoverEvent) -> CommandOutcome { machine.preview(event, now: clock.now) }

    public var state: FailoverState<Instant> { machine.state }
    public var epoch: Epoch { machine.epoch }
    public var lastReason: String { machine.lastReason }
    public var health: [String: NodeHealth<Instant>] { machine.health }
    /// Each region's application tier as last reported (`failover.trigger: region`).
    public var appTier: [String: AppTierVerdict] { machine.appTier }
    public var paused: Bool { machine.paused }
    public var topology: Topology { machine.topology }
    public var lastPrimaryLSN: LSN? { machine.lastPrimaryLSN }
    public var lastPrimaryTimeline: UInt32? { machine.lastPrimaryTimeline }
    /// Former primaries not yet seen again as standbys, and which of them a switchover retired.
    public var retired: Set<String> { machine.retired }
    public var retiredBySwitchover: Set<String> { machine.retiredBySwitchover }

    /// Journal lines about work done beside the failover workflow (a rejoin), kept like the
    /// workflow's own: in memory and in the state store.
    public func journalLines(_ lines: [(JournalKind, String)]) async {
        record(lines, at: clock.now)
        guard let stateStore else { return }
        let epoch = machine.epoch
        do { try await stateStore.append(lines.map { JournalLine(epoch: epoch, kind: $0.0, message: $0.1) }) } catch {
            logger.error("cannot write the journal: \(error)")
        }
    }
    /// Probe results fed to the machine so far (tests wait for rounds of probes with it).
    public var probeCount: Int { probesFed }
    public var now: Instant { clock.now }
    /// The epoch and primary region file replication should follow now (nil during a failover).
    public var settledOrder: ReplicationOrder? {
        ReplicationOrder.settled(state: machine.state, epoch: machine.epoch, topology: machine.topology)
    }

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
            eventsIn.yield(Inbound(event: .timerFired(timer)))
        }
        let ready = deferred.filter { $0.due <= now }
        deferred.removeAll { $0.due <= now }
        for item in ready { eventsIn.yield(item.inbound) }
    }

    private func perform(_ work: Work) async {
        switch work {
        case .probe(let node):
            let started = clock.now
            let result = await fleet.probe(node, timeout: machine.detection.timeout)
            let primaryLSN = machine.state.primary.flatMap { machine.health[$0]?.lastStatus?.currentLSN }
            metrics.probed(node, result, took: started.duration(to: clock.now), primaryLSN: primaryLSN, followed: machine.state.primary)
            probing.remove(node)
            // ±5% jitter so nodes (and several monitors) are not probed in lockstep.
            nextProbe[node] = clock.now.advanced(by: machine.detection.interval * Double.random(in: 0.95...1.05))
            eventsIn.yield(Inbound(event: .probed(node: node, result: result)))
        case .step(let action):
            let (event, notes) = await execute(action)
            switch event {
            case .stepSucceeded(let step, _, _): settings.afterStep?(step)
            case .fenceUnconfirmed: settings.afterStep?(.fence)
            default: break
            }
            eventsIn.yield(Inbound(event: event, persistOnly: notes))
        }
    }

    // MARK: Core

    /// One event: decide on a copy of the machine, save the decision with its journal lines, and
    /// only then adopt it and carry out its actions. A decision that cannot be saved is not acted on.
    private func process(_ inbound: Inbound) async {
        let event = inbound.event
        let now = clock.now
        if case .probed = event { probesFed += 1 }
        let failoverKeyBefore = Self.failoverKey(machine.state)
        var next = machine
        let actions = next.handle(event, now: now)
        let lines = journalLines(for: actions, event: event, epoch: next.epoch)
        let facts = next.snapshot(now: now)
        let acts = actions.contains { if case .probe = $0 { return false } else { return true } }

        if let stateStore, !lines.isEmpty || facts.facts != savedFacts || !inbound.persistOnly.isEmpty {
            do {
                try await stateStore.save(facts, journal: inbound.persistOnly + lines)
                savedFacts = facts.facts
                lastSaveError = nil
                if saveFailing {
                    saveFailing = false
                    logger.notice("the monitor's state is saved again; acting on decisions again")
                }
            } catch {
                // A lease is never persisted (after a restart every lease counts as held for a TTL),
                // so answering one does not wait for the store.
                let isLease = if case .lease = event { true } else { false }
                if (acts || event.isOperatorCommand) && !isLease {
                    saveFailed(error, inbound: inbound, now: now)
                    return
                }
                // Nothing to act on: keep tracking health; the facts are saved with the next decision.
                // Logged once per distinct error, not once per probe.
                if lastSaveError != "\(error)" {
                    lastSaveError = "\(error)"
                    logger.error("cannot save the monitor's state: \(error) (logged once until it changes or a save succeeds)")
                }
            }
        }
        machine = next
        record(lines.map { ($0.kind, $0.message) }, at: now)
        notify(actions, failoverKey: failoverKeyBefore ?? Self.failoverKey(machine.state))
        dispatch(actions, now: now)
        if let reply = inbound.reply { reply.resume(returning: .outcome(machine.outcome(of: actions))) }
        if let reply = inbound.leaseReply {
            let answer = actions.lazy.compactMap { if case .leaseAnswer(let answer) = $0 { return answer } else { return nil } }.first
            reply.resume(returning: answer ?? .refused(.notInUse))
        }
    }

    private func saveFailed(_ error: any Error, inbound: Inbound, now: Instant) {
        metrics.stateSaveFailed()
        let text = "cannot save the monitor's state (\(error)); the decision on \(Self.describe(inbound.event)) is not carried out"
        logger.critical("\(text)")
        if !saveFailing {
            saveFailing = true
            notifications?.yield(Notice(severity: .critical, summary: "monitor cannot save its state: failover actions are suspended (\(error))",
                                        dedupKey: "lifeboat/\(cluster)/state-store", action: .trigger, epoch: machine.epoch))
        }
        switch inbound.event {
        case .probed, .failsafePromise, .appTier:
            break  // the next observation decides again
        case .pause, .resume, .operatorFailover, .operatorSwitchover, .operatorReset:
            inbound.reply?.resume(returning: .notSaved("\(error)"))
        case .stepSucceeded, .stepFailed, .timerFired, .fenceUnconfirmed:
            deferred.append((inbound, now.advanced(by: settings.saveRetryDelay)))
        case .lease:
            inbound.leaseReply?.resume(returning: .refused(.notInUse))
        }
    }

    /// The journal lines a decision writes: the command or step result that caused it, then each action.
    private func journalLines(for actions: [FailoverAction], event: FailoverEvent?, epoch: Epoch) -> [JournalLine] {
        var lines: [(JournalKind, String)] = []
        switch event {
        case .stepSucceeded(let step, let node, let detail)?:
            lines.append((.stepSucceeded(step, node: node), detail.isEmpty ? step.rawValue : detail))
        case .stepFailed(let step, let node, let error)?:
            lines.append((.stepFailed(step, node: node), error.message))
        case .fenceUnconfirmed(let node, let detail)?:
            lines.append((.stepSucceeded(.fence, node: node), detail))
        case .pause?, .resume?, .operatorFailover?, .operatorSwitchover?, .operatorReset?:
            lines.append((.operatorCommand, Self.describe(event!.escaped())))
        case .probed?, .timerFired?, .lease?, .failsafePromise?, .appTier?, nil:
            break
        }
        for action in actions {
            switch action {
            case .transition(let from, let to, let reason): lines.append((.transition(from: from, to: to), reason))
            case .decision(let text): lines.append((.decision, text))
            case .refused(let refusal): lines.append((.decision, "refused \(event.map { Self.describe($0.escaped()) } ?? "a command"): \(refusal)"))
            case .alert(let severity, let text): lines.append((.alert(severity), text))
            case .leaseAnswer: break
            case .bumpEpoch, .fence, .fenceForSwitchover, .catchUp, .promote, .waitWritable, .repoint, .switchTraffic:
                let (step, node) = Self.describe(action)
                lines.append((.stepStarted(step, node: node), "\(step.rawValue)\(node.map { " \($0)" } ?? "")"))
            case .probe, .scheduleTimer: break
            }
        }
        return lines.map { JournalLine(epoch: epoch, kind: $0.0, message: $0.1) }
    }

    private func record(_ lines: [JournalLine], at now: Instant) {
        record(lines.map { ($0.kind, $0.message) }, at: now)
    }

    private func record(_ lines: [(JournalKind, String)], at now: Instant) {
        let epoch = machine.epoch
        for (kind, message) in lines { journal.append(at: now, epoch: epoch, kind: kind, message: message) }
    }

    /// A command or event in words, for the journal (operator text already escaped).
    static func describe(_ event: FailoverEvent) -> String {
        switch event {
        case .pause(let by): return "pause asked by \(by)"
        case .resume(let by): return "resume asked by \(by)"
        case .operatorFailover(let to, let by): return "failover\(to.map { " to \($0)" } ?? "") asked by \(by)"
        case .operatorSwitchover(let to, let by): return "switchover\(to.map { " to \($0)" } ?? "") asked by \(by)"
        case .operatorReset(let by): return "reset asked by \(by)"
        case .probed(let node, _): return "a probe of \(node)"
        case .stepSucceeded(let step, _, _), .stepFailed(let step, _, _): return "the result of \(step.rawValue)"
        case .timerFired(.retry(let step)): return "the retry timer of \(step.rawValue)"
        case .timerFired(.leaseExpiry): return "the lease timer"
        case .fenceUnconfirmed(let node, _): return "the fence of \(node)"
        case .lease(.renew(let node)): return "a lease renewal from \(node)"
        case .lease(.release(let node)): return "a lease release from \(node)"
        case .failsafePromise(let node, _, _): return "\(node)'s failsafe promise"
        case .appTier(let region, _): return "region \(region)'s application tier"
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

    /// Carries out a decided batch of actions (already journaled and saved).
    private func dispatch(_ actions: [FailoverAction], now: Instant) {
        let epoch = machine.epoch
        for action in actions {
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
            case .decision(let text):
                metrics.state(machine.state.kind, epoch: epoch, paused: machine.paused)
                logger.info("\(text)", metadata: ["epoch": "\(epoch)"])
            case .refused(let refusal):
                logger.notice("command refused: \(refusal)", metadata: ["epoch": "\(epoch)"])
            case .leaseAnswer(.refused(let refusal)):
                logger.debug("lease refused: \(refusal)", metadata: ["epoch": "\(epoch)"])
            case .leaseAnswer:
                break
            case .alert(let severity, let text):
                switch severity {
                case .info: logger.info("\(text)", metadata: ["alert": "\(severity.rawValue)"])
                case .warning: logger.warning("\(text)", metadata: ["alert": "\(severity.rawValue)"])
                case .critical: logger.critical("\(text)", metadata: ["alert": "\(severity.rawValue)"])
                }
            case .probe(let nodes, let after):
                let due = now.advanced(by: after)
                for node in nodes where nextProbe[node].map({ due < $0 }) ?? true { nextProbe[node] = due }
            case .scheduleTimer(let id, let after):
                timers[id] = now.advanced(by: after)
            case .bumpEpoch, .fence, .fenceForSwitchover, .catchUp, .promote, .waitWritable, .repoint, .switchTraffic:
                let (step, node) = Self.describe(action)
                logger.info("starting \(step.rawValue)", metadata: ["node": "\(node ?? "-")", "epoch": "\(epoch)"])
                workQueue?.yield(.step(action))
            }
        }
    }

    /// How long a fence may take to connect when the old primary's lease has already run out or
    /// been released.
    static var lastResortFenceConnect: Duration { .milliseconds(300) }

    /// Carries out one workflow action under the step's deadline and turns its outcome into the
    /// event the core expects, with the progress notes it journaled on the way.
    private func execute(_ action: FailoverAction) async -> (FailoverEvent, [JournalLine]) {
        let (step, node) = Self.describe(action)
        let timeout = settings.timeout(for: step)
        let notes = Mutex<[JournalLine]>([])
        let journal = self.journal, clock = self.clock, epochNow = machine.epoch
        let progress: @Sendable (String) -> Void = { note in
            journal.append(at: clock.now, epoch: epochNow, kind: .stepProgress(step), message: note)
            notes.withLock { $0.append(JournalLine(epoch: epochNow, kind: .stepProgress(step), message: note)) }
        }
        let fleet = self.fleet, epochStore = self.epochStore, traffic = self.traffic, owner = self.owner
        // The old primary already failed its probes: connecting is given the probe's own timeout,
        // not the step's (a black-holed region would otherwise cost the whole step).
        var connect = max(machine.detection.timeout, .milliseconds(500))
        var protected = false
        if case .fence(let fenced, _) = action {
            switch machine.leaseView(of: fenced, now: clock.now) {
            case .expired, .released:
                // Its agent has fenced it (or found it down): this fence is a last resort for a node
                // whose agent died, and a server that cannot take a connection in this long is not
                // serving its clients either.
                connect = Self.lastResortFenceConnect
                protected = true
            case .valid, .unknown, .notInUse:
                break
            }
        }
        let fenceConnect = connect, leaseProtected = protected
        do {
            let outcome = try await withDeadline(timeout, clock: clock) {
                try await Self.carryOut(action, fleet: fleet, epochStore: epochStore, traffic: traffic, owner: owner, timeout: timeout,
                                        fenceConnect: fenceConnect, leaseProtected: leaseProtected, progress: progress)
            }
            if outcome.dnsChanged { metrics.lastDNSSwitch.record(wallClock()) }
            if outcome.unconfirmedFence, let node {
                return (.fenceUnconfirmed(node: node, detail: outcome.detail), notes.withLock { $0 })
            }
            return (.stepSucceeded(step, node: node, detail: outcome.detail), notes.withLock { $0 })
        } catch {
            return (.stepFailed(step, node: node, error: StepError(classifying: error)), notes.withLock { $0 })
        }
    }

    private struct StepOutcome: Sendable {
        var detail: String
        var dnsChanged = false
        /// The old primary could not be reached to fence it.
        var unconfirmedFence = false
    }

    private static func carryOut(_ action: FailoverAction, fleet: any DatabaseFleet, epochStore: any EpochStore, traffic: any TrafficSwitch,
                                 owner: String, timeout: Duration, fenceConnect: Duration, leaseProtected: Bool,
                                 progress: @escaping @Sendable (String) -> Void) async throws -> StepOutcome {
        switch action {
        case .bumpEpoch(let from, let to):
            try await epochStore.compareAndSwap(expected: from, new: to, owner: owner)
            return StepOutcome(detail: "by \(owner)")
        case .fence(let node, let epoch):
            // With the old primary's lease run out or released, a power-off is asked for, not waited for.
            let outcome = if let escalating = fleet as? PowerFencingFleet {
                try await escalating.fence(node, epoch: epoch, timeout: timeout, connectTimeout: fenceConnect, leaseProtected: leaseProtected)
            } else {
                try await fleet.fence(node, epoch: epoch, timeout: timeout, connectTimeout: fenceConnect)
            }
            if case .unreachable = outcome { return StepOutcome(detail: outcome.detail, unconfirmedFence: true) }
            return StepOutcome(detail: outcome.detail)
        case .fenceForSwitchover(let node, let epoch):
            let outcome = try await fleet.fence(node, epoch: epoch, timeout: timeout)
            guard case .fenced = outcome else { throw SwitchoverError(message: "a switchover needs \(node) reachable to fence it: \(outcome.detail)") }
            return StepOutcome(detail: outcome.detail)
        case .catchUp(let node, let primary, let epoch):
            return StepOutcome(detail: try await fleet.waitCaughtUp(node, primary: primary, epoch: epoch, timeout: timeout))
        case .promote(let node, let epoch):
            return StepOutcome(detail: try await fleet.promote(node, epoch: epoch, timeout: timeout))
        case .waitWritable(let node, _):
            return StepOutcome(detail: try await fleet.waitWritable(node, timeout: timeout))
        case .repoint(let node, let primary, _):
            return StepOutcome(detail: try await fleet.repoint(node, toPrimary: primary, timeout: timeout))
        case .switchTraffic(let region, let fromRegion, let node, let epoch):
            let result = try await traffic.switchTraffic(toRegion: region, fromRegion: fromRegion, node: node, epoch: epoch, timeout: timeout,
                                                         progress: progress)
            return StepOutcome(detail: result.detail, dnsChanged: result.changed)
        case .transition, .decision, .refused, .leaseAnswer, .probe, .scheduleTimer, .alert:
            return StepOutcome(detail: "")
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
        case .transition, .decision, .refused, .leaseAnswer, .probe, .scheduleTimer, .alert: return (.bumpEpoch, nil)
        }
    }
}

struct SwitchoverError: ClassifiedFailure {
    var message: String
    var description: String { message }
    var failureKind: StepError.Kind { .unreachable }
}
