import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatPorts
import LifeboatPostgres
import Logging

/// The primary's side of the lease: while the local PostgreSQL takes writes, renew the lease with
/// the monitor; when it cannot be renewed in time, fence the local PostgreSQL before the lease can
/// have run out anywhere else; when the local PostgreSQL is down, give the lease up at once so a
/// standby is promoted without waiting.
///
/// The lease is granted for `ttl` from when the monitor *received* a renewal; this agent counts
/// from when it *sent* it, and fences at `sent + ttl × (1 − drift) − fenceBudget`. With clock rates
/// differing by less than `drift`, the old primary refuses writes before the monitor can consider
/// the lease over and promote a standby (docs/failover.md, "The primary's lease").
public actor LeaseKeeper {
    /// How much faster this machine's clock may run than the monitor's, as a fraction.
    public static let drift = 0.01
    /// Time set aside to make PostgreSQL refuse writes before the lease's end.
    /// 1.5 s: measured under a fully loaded 2-core machine (the test suite with partition drills
    /// beside it), a fence over a fresh connection took up to 1.13 s; over the session reserved while
    /// holding it takes a few milliseconds.
    public static let fenceBudget: Duration = .milliseconds(1500)

    public enum State: Sendable, Equatable {
        /// The local PostgreSQL is not a writable primary: nothing to hold.
        case idle
        /// Held; fence at `until` unless renewed.
        case holding(until: ContinuousClock.Instant)
        /// The lease ran out or the monitor named another primary: the local PostgreSQL was fenced.
        case fenced(reason: String)
    }

    let agent: Agent
    let client: LeaseClient
    let key: String
    /// Failsafe mode: the other nodes' agents and the lease's TTL, from the monitor's last grant.
    private var failsafePeers: [FailsafePeer]?
    private var ttl: Duration?
    /// Holding on the standbys' promises alone (the monitor is unreachable).
    public private(set) var onFailsafe = false
    /// A fence is being applied (its retries run until it takes).
    private var fencing = false
    /// How long after a fence took a writable-looking server is not yet fenced again.
    static let settleAfterFence: Duration = .seconds(1)
    /// The last renewal did not reach the monitor (no answer at all).
    private var unreachable = false
    /// No lease has been granted since this agent started or since its PostgreSQL went down: a
    /// writable PostgreSQL is not allowed to stay writable until the monitor (or, in failsafe mode,
    /// every standby's agent) confirms this node is still the primary.
    private var mustConfirm = true
    public private(set) var failsafeRounds = 0
    let renewEvery: Duration
    let logger: Logger
    let clock = ContinuousClock()
    public private(set) var state: State = .idle
    public private(set) var renewals = 0
    public private(set) var selfFences = 0
    /// When the last self-fence was done (the local PostgreSQL refuses writes from then on).
    public private(set) var fencedAt: ContinuousClock.Instant?
    /// Sleeps until the held lease's end and fences then, unless a renewal moved the end: the
    /// fence never waits for a renewal attempt or a role query to finish.
    private var deadline: Task<Void, Never>?

    init(agent: Agent, config: LeaseConfig, key: String, logger: Logger) {
        self.agent = agent
        self.client = LeaseClient(monitors: config.monitors, node: agent.config.node, key: key, tls: agent.clientTLS)
        self.key = key
        self.renewEvery = config.renewEvery
        var logger = logger
        logger[metadataKey: "lease.monitor"] = "\(config.monitors.joined(separator: ","))"
        self.logger = logger
    }

    /// How often the local PostgreSQL is watched while the lease is held: its death releases the
    /// lease within this long, so a crashed database still fails over in under a second.
    public static let watchEvery: Duration = .milliseconds(100)

    /// Renews every `renewEvery` (waking early when the lease would run out first), and watches the
    /// local PostgreSQL every `watchEvery` while holding.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.renewLoop() }
            group.addTask { await self.watchLoop() }
        }
    }

    /// Renews every `renewEvery` counted from the start of each attempt (a renewal that hung during a
    /// partition does not push the next one back); after a renewal that did not reach the monitor,
    /// tries again at once (at most 4 times per `renewEvery`), so the lease is renewed as soon as a
    /// partition heals.
    private func renewLoop() async {
        while !Task.isCancelled {
            let started = clock.now
            await tick()
            var next = started.advanced(by: renewEvery)
            if unreachable, case .holding = state { next = max(clock.now, started.advanced(by: renewEvery / 4)) }
            if case .holding(let until) = state, until < next { next = until }
            try? await clock.sleep(until: next)
        }
    }

    private func watchLoop() async {
        while !Task.isCancelled {
            switch state {
            case .holding:
                if await agent.localDatabaseDown() { await release() }
            case .fenced(let reason):
                // Fenced here, yet taking writes: restarted with data from before the fence, or the
                // fence was lifted behind this agent's back. Not one more write.
                if await agent.currentRole() == .primary, case .fenced = state {
                    await fence("the local PostgreSQL takes writes again although this agent fenced it (\(reason))", again: true)
                }
            case .idle:
                break
            }
            try? await clock.sleep(for: Self.watchEvery)
        }
    }

    /// When a lease granted for `ttl` from `sent` must be given up: less the clock-rate drift and the
    /// time to apply the fence.
    static func fenceAt(sent: ContinuousClock.Instant, ttlMilliseconds ttl: Int64) -> ContinuousClock.Instant {
        sent.advanced(by: .milliseconds(Int64(Double(ttl) * (1 - drift))) - fenceBudget)
    }

    private func hold(until: ContinuousClock.Instant) {
        state = .holding(until: until)
        deadline?.cancel()
        deadline = Task { [clock] in
            try? await clock.sleep(until: until)
            guard !Task.isCancelled else { return }
            await self.deadlineReached(until)
        }
    }

    private func deadlineReached(_ until: ContinuousClock.Instant) async {
        guard case .holding(let current) = state, current == until else { return }
        deadline = nil  // the fence runs in this very task: it must not cancel itself
        await fence("the lease was not renewed in time (the monitor was unreachable)")
    }

    private func release() async {
        guard case .holding = state else { return }
        state = .idle
        mustConfirm = true
        deadline?.cancel()
        do {
            _ = try await client.release(epoch: agent.epochs.current, timeout: .seconds(1))
            logger.warning("released the primary lease: the local PostgreSQL is down")
        } catch {
            logger.error("could not release the lease; it runs out on its own", metadata: ["lease.error": "\(error)"])
        }
    }

    /// What `/metrics` shows of the lease.
    public struct Snapshot: Sendable {
        public var held: Bool
        public var remainingSeconds: Double
        public var failsafe: Bool
        public var renewals: Int
        public var selfFences: Int
    }

    public func snapshot() -> Snapshot {
        var held = false
        var remaining = 0.0
        if case .holding(let until) = state {
            held = true
            let left = clock.now.duration(to: until)
            remaining = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
        }
        return Snapshot(held: held, remainingSeconds: remaining, failsafe: onFailsafe, renewals: renewals, selfFences: selfFences)
    }

    /// One round: look at the local PostgreSQL, then renew, release or fence.
    public func tick() async {
        let role = await agent.currentRole()
        switch role {
        case .primary:
            if case .fenced(let reason) = state {
                await fence("the local PostgreSQL takes writes again although this agent fenced it (\(reason))", again: true)
                return
            }
            if case .holding(let until) = state, clock.now >= until {
                await fence("the lease was not renewed in time (the monitor was unreachable)")
                return
            }
            let sent = clock.now
            var timeout = min(renewEvery, .seconds(1))
            if case .holding(let until) = state { timeout = max(.milliseconds(50), min(timeout, sent.duration(to: until))) }
            do {
                let answer = try await client.renew(epoch: agent.epochs.current, timeout: timeout)
                unreachable = false
                if answer.granted, let ttl = answer.ttlMilliseconds {
                    if case .holding = state {} else {
                        logger.notice("holding the primary lease", metadata: ["lease.ttl_ms": "\(ttl)"])
                    }
                    hold(until: Self.fenceAt(sent: sent, ttlMilliseconds: ttl))
                    renewals += 1
                    await agent.prepareSelfFence(true)
                    if let epoch = answer.epoch { try? agent.epochs.admit(epoch) }
                    failsafePeers = answer.failsafePeers
                    self.ttl = .milliseconds(ttl)
                    mustConfirm = false
                    agent.epochs.remember(failsafePeers: answer.failsafePeers, ttlMilliseconds: ttl)
                    if onFailsafe {
                        onFailsafe = false
                        logger.notice("the monitor renews the lease again; failsafe mode over")
                    }
                } else if let code = answer.refusalCode {
                    switch code {
                    case .notThePrimary, .failoverRunning:
                        // The monitor has decided another node is (or is becoming) the primary:
                        // this one must not take another write.
                        await fence("the monitor refused the lease: \(answer.refusal ?? code.rawValue)")
                        return
                    case .notInUse:
                        // The monitor runs without a lease now: nothing to hold, nothing to fence for.
                        if case .holding = state {
                            logger.notice("the monitor runs without a primary lease now; not holding one")
                            state = .idle
                            deadline?.cancel()
                        }
                    case .noPrimaryYet:
                        // A (re)starting monitor: no lease, but no verdict either.
                        // (Not fenced for want of confirmation: the monitor is about to identify the
                        // primary, and a fence now would hide it from that discovery.)
                        await failsafeRound(because: "the monitor has not identified a primary yet")
                    }
                }
            } catch {
                unreachable = true
                logger.warning("lease not renewed", metadata: ["lease.error": "\(error)"])
                await failsafeRound(because: "the monitor is unreachable")
                await confirmOrFence(because: "the monitor is unreachable")
            }
            if case .holding(let until) = state, clock.now >= until {
                await fence("the lease was not renewed in time (the monitor was unreachable)")
            }
        case .unknown:
            // The local PostgreSQL is down: give the lease up so a standby is promoted at once.
            await release()
        case .fenced:
            // Fenced by this keeper (the lease ran out during a blip): when the monitor grants the
            // lease again, it still names this node the primary with no failover started, so the
            // fence is lifted. A fence ordered by the monitor is never lifted here: its renewals
            // are refused from then on.
            // Lifted here only when this keeper fenced it, or when it started read-only by
            // `--prepare-start` (never a fence the monitor or an operator put there).
            let readOnlyStart = agent.config.stateFile.map { FileManager.default.fileExists(atPath: ReadOnlyStart.marker(stateFile: $0)) } ?? false
            switch state {
            case .fenced: break
            case .idle where mustConfirm && readOnlyStart: break
            case .idle, .holding: return
            }
            do {
                let sent = clock.now
                let answer = try await client.renew(epoch: agent.epochs.current, timeout: min(renewEvery, .seconds(1)))
                if answer.granted, let ttl = answer.ttlMilliseconds {
                    // Held first, then lifted: the watch never sees a writable server it fenced.
                    hold(until: Self.fenceAt(sent: sent, ttlMilliseconds: ttl))
                    mustConfirm = false
                    let detail = await agent.liftSelfFence()
                    if readOnlyStart, let stateFile = agent.config.stateFile { try? FileManager.default.removeItem(atPath: ReadOnlyStart.marker(stateFile: stateFile)) }
                    logger.notice("the monitor grants the lease\(readOnlyStart ? " (this node started read-only)" : " again"): \(detail)")
                }
            } catch {
                logger.debug("lease not renewed while fenced", metadata: ["lease.error": "\(error)"])
            }
        case .replica:
            // A standby again (rejoined): a fence from its life as primary is moot, and must not
            // be re-applied should it be promoted later.
            if case .fenced = state {
                state = .idle
                mustConfirm = true
            }
            if case .holding = state {
                state = .idle
                deadline?.cancel()
                await agent.prepareSelfFence(false)
            }
        }
    }

    /// Failsafe mode: the lease could not be renewed, but when every other node's agent promises,
    /// for the lease's TTL, not to let its node be promoted, no standby can become primary in that
    /// time — so the lease is held as if renewed at `sent`. Any refusal or silence: nothing changes
    /// (the fence deadline stands).
    private func failsafeRound(because why: String) async {
        if failsafePeers == nil, let remembered = agent.epochs.rememberedFailsafe {
            failsafePeers = remembered.peers
            ttl = .milliseconds(remembered.ttlMilliseconds)
        }
        guard let peers = failsafePeers, let ttl else { return }
        let until: ContinuousClock.Instant
        switch state {
        case .holding(let held): until = held
        case .idle where mustConfirm: until = clock.now.advanced(by: .seconds(1))
        case .idle, .fenced: return
        }
        let sent = clock.now
        let timeout = max(.milliseconds(50), min(renewEvery, .seconds(1), sent.duration(to: until)))
        let epoch = Epoch(agent.epochs.current)
        let node = agent.config.node
        let key = self.key
        let tls = agent.clientTLS
        let answers = await withTaskGroup(of: (String, String?).self) { group in
            for peer in peers {
                group.addTask {
                    let client = AgentClient(baseURL: peer.url, node: peer.node, key: key, tls: tls)
                    do {
                        let answer = try await client.failsafe(primary: node, epoch: epoch, ttl: ttl, timeout: timeout)
                        return (peer.node, answer.granted ? nil : (answer.refusal ?? "refused"))
                    } catch {
                        return (peer.node, "\(error)")
                    }
                }
            }
            var all: [(String, String?)] = []
            for await answer in group { all.append(answer) }
            return all
        }
        failsafeRounds += 1
        let refused = answers.filter { $0.1 != nil }
        let stillOurs: Bool = switch state {
        case .holding: true
        case .idle: mustConfirm
        case .fenced: false
        }
        guard refused.isEmpty, stillOurs else {
            if onFailsafe || refused.count < peers.count {
                logger.warning("failsafe: not every standby's agent promised; the lease runs out unless renewed",
                               metadata: ["failsafe.refused": "\(refused.map { "\($0.0): \($0.1 ?? "")" }.joined(separator: "; "))"])
            }
            return
        }
        if !onFailsafe {
            onFailsafe = true
            logger.warning("failsafe mode: \(why), but every standby's agent (\(peers.map(\.node).joined(separator: ", "))) promised not to be promoted; still taking writes")
        }
        hold(until: Self.fenceAt(sent: sent, ttlMilliseconds: ttl.milliseconds))
        mustConfirm = false
    }

    /// A writable PostgreSQL this agent has not had confirmed as the primary since it started (or
    /// since its PostgreSQL came back): fenced until the monitor grants the lease — a returning old
    /// primary takes no write on its own say-so.
    private func confirmOrFence(because why: String) async {
        guard mustConfirm, case .idle = state else { return }
        await fence("not confirmed as the primary since this agent or its PostgreSQL started, and \(why)")
    }

    /// Read-only at once; then, with `fence.method: stop`, stopped. A fence that did not take (a
    /// slow or overloaded server) is tried again every `watchEvery` until it does, or until the
    /// local PostgreSQL is down.
    private func fence(_ reason: String, again: Bool = false) async {
        if case .fenced = state, !again { return }
        if again {
            // One fence at a time; and a server that was just made read-only may still show its old
            // setting to a new session until it has processed the reload.
            if fencing { return }
            if let at = fencedAt, at.duration(to: clock.now) < Self.settleAfterFence { return }
        }
        fencing = true
        defer { fencing = false }
        deadline?.cancel()
        logger.critical("fencing the local PostgreSQL: \(reason)")
        selfFences += 1
        state = .fenced(reason: reason)
        // Bounded (a minute of tries), and deaf to cancellation: a fence is never abandoned half-way.
        for _ in 0..<600 {
            let result = await agent.selfFence()
            logger.critical("self-fence: \(result.detail)", metadata: ["fence.method": "\(result.method)", "fence.done": "\(result.fenced)"])
            let down = result.fenced ? false : await agent.localDatabaseDown()
            if result.fenced || down {
                fencedAt = clock.now
                return
            }
            try? await clock.sleep(for: Self.watchEvery)
        }
    }
}
