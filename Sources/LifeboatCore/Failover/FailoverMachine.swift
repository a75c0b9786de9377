/// The failover brain: a value type fed events and the current instant, returning the actions
/// the engine must carry out. No I/O, no wall clock: time comes in as `now`.
public struct FailoverMachine<C: Clock>: Sendable where C.Duration == Duration, C.Instant: Sendable {
    public typealias Instant = C.Instant

    public let topology: Topology
    public let detection: DetectionSettings
    public let policy: FailoverPolicy

    public internal(set) var state: FailoverState<Instant> = .discovering
    /// The last stored epoch.
    public internal(set) var epoch: Epoch
    public internal(set) var paused = false
    public internal(set) var lastFailoverAt: Instant?
    public internal(set) var health: [String: NodeHealth<Instant>] = [:]
    /// Why the machine is in its current state, in words.
    public internal(set) var lastReason = "starting: no primary identified yet"
    /// Former primaries demoted by a failover: never candidates until seen again as standbys.
    public internal(set) var retired: Set<String> = []
    var lastPrimaryLSN: LSN?
    var strayFencesInFlight: Set<String> = []
    var lastDiscoveryProblem: String?

    public init(topology: Topology, detection: DetectionSettings = .default, policy: FailoverPolicy = .default, epoch: Epoch = .initial) {
        self.topology = topology
        self.detection = detection
        self.policy = policy
        self.epoch = epoch
    }

    public mutating func handle(_ event: FailoverEvent, now: Instant) -> [FailoverAction] {
        switch event {
        case .probed(let node, let result):
            return probed(node, result, now: now)
        case .stepSucceeded(let step, let node, let detail):
            return stepSucceeded(step, node: node, detail: detail, now: now)
        case .stepFailed(let step, let node, let error):
            return stepFailed(step, node: node, error: error, now: now)
        case .timerFired(.retry(let step)):
            switch state {
            case .failingOver(let progress) where progress.step == step:
                return actions(for: progress)
            case .trafficNotSwitched(let progress, _) where step == .switchTraffic:
                return actions(for: progress)
            case .discovering, .monitoring, .confirming, .holding, .failingOver, .failed, .trafficNotSwitched:
                return []
            }
        case .pause(let who):
            paused = true
            return [.decision("paused by \(who): no automatic failover until resumed")]
        case .resume(let who):
            paused = false
            return [.decision("resumed by \(who): automatic failover allowed again")] + evaluate(now: now)
        case .operatorFailover(let target, let who):
            return operatorFailover(to: target, by: who, now: now)
        case .operatorSwitchover(let target, let who):
            return operatorSwitchover(to: target, by: who, now: now)
        case .operatorReset(let who):
            switch state {
            case .failed, .trafficNotSwitched:
                return [move(to: .discovering, reason: "operator \(who) reset the failover; rediscovering roles")]
            case .discovering, .monitoring, .confirming, .holding, .failingOver:
                return [.decision("reset by \(who) ignored: nothing has failed")]
            }
        }
    }

    // MARK: - Probes

    private mutating func probed(_ node: String, _ result: ProbeResult, now: Instant) -> [FailoverAction] {
        guard topology.node(named: node) != nil else { return [.decision("ignored a probe of unknown node \(node)")] }
        var nodeHealth = health[node] ?? NodeHealth()
        _ = nodeHealth.record(result, at: now, settings: detection)
        health[node] = nodeHealth

        var actions: [FailoverAction] = []
        if nodeHealth.isSuspect {
            actions.append(.probe(nodes: [node], after: detection.suspectInterval))
        }
        if let status = result.status {
            if node == state.primary, !status.inRecovery, let lsn = status.currentLSN { lastPrimaryLSN = lsn }
            if status.inRecovery, retired.remove(node) != nil {
                actions.append(.decision("\(node) rejoined as a standby; it is a failover candidate again"))
            }
        }
        actions += guardAgainstStrayPrimary(node, result)
        return actions + evaluate(now: now)
    }

    /// Split-brain guard: a node other than the primary that accepts writes is fenced at once.
    private mutating func guardAgainstStrayPrimary(_ node: String, _ result: ProbeResult) -> [FailoverAction] {
        guard let status = result.status, status.isWritablePrimary, let primary = state.primary, node != primary,
              !strayFencesInFlight.contains(node)
        else { return [] }
        switch state {
        case .failingOver(let p), .failed(let p, _):
            if p.candidate == node { return [] }
        case .discovering, .monitoring, .confirming, .holding, .trafficNotSwitched:
            break
        }
        strayFencesInFlight.insert(node)
        return [
            .alert(.critical, "split-brain guard: \(node) accepts writes but \(primary) is the primary under epoch \(epoch); fencing \(node)"),
            .fence(node: node, epoch: epoch),
        ]
    }

    /// Re-decides what the current state calls for, given everything observed so far.
    mutating func evaluate(now: Instant) -> [FailoverAction] {
        switch state {
        case .discovering:
            return discover()
        case .monitoring(let primary):
            return watch(primary, now: now)
        case .trafficNotSwitched(let progress, _):
            return watch(progress.candidate, now: now)
        case .confirming(let primary, let since, let veto):
            if health[primary]?.verdict == .healthy {
                return [move(to: .monitoring(primary: primary), reason: "primary \(primary) answers probes again; no failover")]
            }
            switch corroborate(primary, since: since) {
            case .waiting:
                return []
            case .vetoed(let why):
                guard why != veto else { return [] }
                state = .confirming(primary: primary, since: since, veto: why)
                return [.decision("failover vetoed: \(why)")]
            case .noWitness(let why):
                return hold(primary, blocker: why)
            case .corroborated(let why):
                return startAutomaticFailover(from: primary, corroboration: why, now: now)
            }
        case .holding(let primary, _):
            if health[primary]?.verdict == .healthy {
                return [move(to: .monitoring(primary: primary), reason: "primary \(primary) answers probes again; no failover needed")]
            }
            switch corroborate(primary, since: health[primary]?.lastStatusAt ?? now) {
            case .vetoed(let why):
                return [move(to: .confirming(primary: primary, since: now, veto: why), reason: "no longer corroborated: \(why)")]
            case .waiting, .noWitness:
                return []
            case .corroborated(let why):
                return startAutomaticFailover(from: primary, corroboration: why, now: now)
            }
        case .failingOver, .failed:
            return []
        }
    }

    /// Watching a primary: down past the threshold means asking the standbys to corroborate.
    private mutating func watch(_ primary: String, now: Instant) -> [FailoverAction] {
        let primaryHealth = health[primary]
        if primaryHealth?.verdict == .unhealthy {
            let error = primaryHealth?.lastResult.flatMap(Self.errorText) ?? "no answer"
            let reason = "primary \(primary) failed \(primaryHealth?.consecutiveFailures ?? 0) consecutive probes (\(error)); asking the standbys to corroborate"
            let move = move(to: .confirming(primary: primary, since: now, veto: nil), reason: reason)
            return [move, .probe(nodes: standbys(excluding: primary), after: .zero)] + evaluate(now: now)
        }
        // Thresholded like failures: a probe that started before a promotion finished may
        // still report recovery.
        if case .monitoring = state, let primaryHealth, primaryHealth.consecutiveInRecovery >= detection.failureThreshold {
            return [move(to: .discovering, reason: "primary \(primary) reported being in recovery on \(primaryHealth.consecutiveInRecovery) consecutive probes; rediscovering roles")]
        }
        return []
    }

    private mutating func discover() -> [FailoverAction] {
        let writable = topology.databaseNodes.map(\.name).filter { health[$0]?.currentStatus?.isWritablePrimary == true }
        if writable.count == 1, let primary = writable.first {
            lastDiscoveryProblem = nil
            lastPrimaryLSN = health[primary]?.currentStatus?.currentLSN
            return [move(to: .monitoring(primary: primary), reason: "\(primary) is the primary: reachable, not in recovery, accepts writes")]
        }
        guard writable.count > 1 else { return [] }
        let problem = "more than one node accepts writes (\(writable.joined(separator: ", "))); refusing to pick a primary"
        guard problem != lastDiscoveryProblem else { return [] }
        lastDiscoveryProblem = problem
        return [.decision(problem), .alert(.critical, problem)]
    }

    // MARK: - Corroboration

    enum Corroboration: Equatable {
        case waiting
        case vetoed(String)
        case noWitness(String)
        case corroborated(String)
    }

    /// The primary is down only when the monitor's probes fail and every standby observed since
    /// `since` has lost its WAL stream too. A standby still streaming vetoes the failover.
    func corroborate(_ primary: String, since: Instant) -> Corroboration {
        let standbys = standbys(excluding: primary)
        let fresh = standbys.filter { name in health[name]?.lastObservedAt.map { $0 >= since } ?? false }
        if let streaming = fresh.first(where: { health[$0]?.currentStatus?.isStreaming == true }) {
            return .vetoed("standby \(streaming) still streams WAL from the primary; only the monitor's path to \(primary) is failing")
        }
        guard fresh.count == standbys.count else { return .waiting }
        let witnesses = fresh.filter { health[$0]?.currentStatus != nil }
        guard !witnesses.isEmpty else {
            return .noWitness(standbys.isEmpty ? "no standby is configured" : "no standby is reachable to corroborate the failure or to be promoted")
        }
        let detail = witnesses.map { name -> String in
            if case .notStreaming(let status?) = health[name]?.currentStatus?.walReceiver { return "\(name) (WAL receiver \(status))" }
            return "\(name) (no WAL receiver)"
        }
        return .corroborated("primary \(primary) is down: the monitor cannot reach it and standby \(detail.joined(separator: ", ")) lost its WAL stream too")
    }

    // MARK: - Starting a failover

    private mutating func startAutomaticFailover(from primary: String, corroboration: String, now: Instant) -> [FailoverAction] {
        if let blocker = guardRailBlocking(now: now) {
            return hold(primary, blocker: blocker)
        }
        let choice = chooseCandidate(excluding: primary, enforceLagLimits: true)
        guard let chosen = choice.chosen else {
            let blocker = choice.allOverLagLimit
                ? "every candidate is over the lag limit (\(choice.summary)); promote by hand with lifeboat failover --to NODE if the loss is acceptable"
                : choice.summary
            return hold(primary, blocker: blocker)
        }
        return beginFailover(from: primary, to: chosen.node, reason: "\(corroboration); \(choice.summary)", manual: false, now: now)
    }

    private func guardRailBlocking(now: Instant) -> String? {
        if paused { return "the monitor is paused (lifeboat resume to allow failover)" }
        if !policy.automatic { return "automatic failover is off; run lifeboat failover to promote a standby" }
        if let last = lastFailoverAt {
            let elapsed = last.duration(to: now)
            if elapsed < policy.cooldown {
                return "in cooldown: the last failover finished \(DurationText.format(elapsed)) ago and cooldown is \(DurationText.format(policy.cooldown))"
            }
        }
        return nil
    }

    private mutating func hold(_ primary: String, blocker: String) -> [FailoverAction] {
        if case .holding(_, let current) = state {
            guard current != blocker else { return [] }
            state = .holding(primary: primary, blocker: blocker)
            return [.decision("failover still blocked: \(blocker)")]
        }
        return [
            move(to: .holding(primary: primary, blocker: blocker), reason: "primary \(primary) is down but failover is blocked: \(blocker)"),
            .alert(.critical, "primary \(primary) is down and no automatic failover will happen: \(blocker)"),
        ]
    }

    private mutating func operatorFailover(to target: String?, by who: String, now: Instant) -> [FailoverAction] {
        let primary: String
        switch state {
        case .monitoring(let p), .confirming(let p, _, _), .holding(let p, _):
            primary = p
        case .trafficNotSwitched(let progress, _):
            primary = progress.candidate
        case .discovering:
            return [.decision("refused failover asked by \(who): no primary has been identified yet")]
        case .failingOver:
            return [.decision("refused failover asked by \(who): a failover is already running")]
        case .failed:
            return [.decision("refused failover asked by \(who): the last failover failed; reset it first")]
        }
        let choice = chooseCandidate(excluding: primary, enforceLagLimits: false)
        let chosen: CandidateAssessment
        if let target {
            guard let assessment = choice.assessments.first(where: { $0.node == target }) else {
                return [.decision("refused failover asked by \(who): \(target) is not a standby of \(primary)")]
            }
            if let why = assessment.ineligibleBecause {
                return [.decision("refused failover asked by \(who) to \(target): \(why)")]
            }
            chosen = assessment
        } else {
            guard let best = choice.chosen else { return [.decision("refused failover asked by \(who): \(choice.summary)")] }
            chosen = best
        }
        let lag = chosen.lagBytes.map { ", \($0) bytes behind" } ?? ""
        return beginFailover(from: primary, to: chosen.node, reason: "operator \(who) asked for failover to \(chosen.node)\(lag)", manual: true, now: now)
    }

    private mutating func operatorSwitchover(to target: String?, by who: String, now: Instant) -> [FailoverAction] {
        guard case .monitoring(let primary) = state else {
            return [.decision("refused switchover asked by \(who): it needs a healthy primary being monitored (state is \(state.kind.rawValue))")]
        }
        guard health[primary]?.verdict == .healthy, health[primary]?.currentStatus?.isWritablePrimary == true else {
            return [.decision("refused switchover asked by \(who): primary \(primary) is not healthy; use lifeboat failover")]
        }
        let plan = failoverPlan(to: target)
        guard let candidate = plan.candidate else {
            return [.decision("refused switchover asked by \(who): \(plan.refusal ?? "no candidate")")]
        }
        var actions = beginFailover(from: primary, to: candidate, reason: "operator \(who) asked for a switchover to \(candidate) (planned, zero data loss)",
                                    manual: true, now: now)
        if case .failingOver(var p) = state {
            p.planned = true
            state = .failingOver(p)
        }
        actions = actions.map { action in
            if case .alert(let severity, let text) = action, text.hasPrefix("failover started") {
                return .alert(severity == .critical ? .warning : severity, "switchover started" + text.dropFirst("failover started".count))
            }
            return action
        }
        return actions
    }

    private func chooseCandidate(excluding primary: String, enforceLagLimits: Bool) -> CandidateChoice {
        CandidateSelection.choose(
            among: standbys(excluding: primary), health: health, lastPrimaryLSN: lastPrimaryLSN,
            topology: topology, policy: policy, enforceLagLimits: enforceLagLimits
        )
    }

    private mutating func beginFailover(from primary: String, to candidate: String, reason: String, manual: Bool, now: Instant) -> [FailoverAction] {
        let others = standbys(excluding: primary).filter { $0 != candidate }
        let progress = FailoverProgress(
            oldPrimary: primary, candidate: candidate, epoch: epoch.next, step: .bumpEpoch, attempt: 1,
            startedAt: now, pendingRepoints: others, otherStandbys: others, manual: manual, reason: reason
        )
        return [
            move(to: .failingOver(progress), reason: reason),
            .alert(.critical, "failover started: \(primary) -> \(candidate) under epoch \(progress.epoch)"),
        ] + actions(for: progress)
    }

    // MARK: - Workflow

    /// The side effects of the step `p` stands at.
    public func actions(for p: FailoverProgress<Instant>) -> [FailoverAction] {
        switch p.step {
        case .bumpEpoch: return [.bumpEpoch(to: p.epoch)]
        case .fence: return [p.planned ? .fenceForSwitchover(node: p.oldPrimary, epoch: p.epoch) : .fence(node: p.oldPrimary, epoch: p.epoch)]
        case .catchUp: return [.catchUp(node: p.candidate, primary: p.oldPrimary, epoch: p.epoch)]
        case .promote: return [.promote(node: p.candidate, epoch: p.epoch)]
        case .waitWritable: return [.waitWritable(node: p.candidate, epoch: p.epoch)]
        case .repoint: return p.pendingRepoints.map { .repoint(node: $0, primary: p.candidate, epoch: p.epoch) }
        case .switchTraffic:
            let region = topology.node(named: p.candidate)?.region ?? ""
            let fromRegion = topology.node(named: p.oldPrimary)?.region ?? ""
            return [.switchTraffic(region: region, fromRegion: fromRegion, node: p.candidate, epoch: p.epoch)]
        }
    }

    private mutating func stepSucceeded(_ step: FailoverStep, node: String?, detail: String, now: Instant) -> [FailoverAction] {
        if case .trafficNotSwitched(let p, _) = state, step == .switchTraffic {
            return [move(to: .monitoring(primary: p.candidate), reason: "traffic switched to \(p.candidate) on a later try: \(detail)"),
                    .alert(.info, "traffic now reaches \(p.candidate): \(detail)")]
        }
        guard case .failingOver(var p) = state, p.step == step, step != .fence || node == nil || node == p.oldPrimary else {
            if step == .fence, let node, strayFencesInFlight.remove(node) != nil {
                return [.decision("fenced stray primary \(node): \(detail)")]
            }
            return [.decision("ignored a late result of step \(step.rawValue)\(node.map { " on \($0)" } ?? ""): \(detail)")]
        }
        switch step {
        case .bumpEpoch:
            epoch = p.epoch
            return advance(p, to: .fence, reason: "epoch \(p.epoch) stored\(detail.isEmpty ? "" : ": \(detail)"); fencing \(p.oldPrimary)")
        case .fence:
            retired.insert(p.oldPrimary)
            if p.planned {
                return advance(p, to: .catchUp, reason: "old primary \(p.oldPrimary): \(detail); waiting until \(p.candidate) has replayed its last WAL")
            }
            return advance(p, to: .promote, reason: "old primary \(p.oldPrimary): \(detail); promoting \(p.candidate)")
        case .catchUp:
            return advance(p, to: .promote, reason: "\(p.candidate) caught up: \(detail); promoting \(p.candidate)")
        case .promote:
            health[p.candidate]?.roleChanged()
            return advance(p, to: .waitWritable, reason: "\(p.candidate) promoted: \(detail); waiting until it accepts writes")
        case .waitWritable:
            if p.otherStandbys.isEmpty {
                return advance(p, to: .switchTraffic, reason: "\(p.candidate) accepts writes: \(detail); switching traffic")
            }
            return advance(p, to: .repoint, reason: "\(p.candidate) accepts writes: \(detail); repointing \(p.otherStandbys.joined(separator: ", "))")
        case .repoint:
            guard let node, let index = p.pendingRepoints.firstIndex(of: node) else {
                return [.decision("ignored a repoint result for \(node ?? "an unnamed node")")]
            }
            p.pendingRepoints.remove(at: index)
            if p.pendingRepoints.isEmpty {
                return advance(p, to: .switchTraffic, reason: "every other standby follows \(p.candidate); switching traffic")
            }
            state = .failingOver(p)
            return [.decision("\(node) now follows \(p.candidate): \(detail)")]
        case .switchTraffic:
            lastFailoverAt = now
            lastPrimaryLSN = nil
            let took = DurationText.format(p.startedAt.duration(to: now))
            let reason = "failover complete: \(p.candidate) is the primary under epoch \(p.epoch) (\(detail)); took \(took)"
            return [move(to: .monitoring(primary: p.candidate), reason: reason), .alert(.warning, reason)]
        }
    }

    private mutating func advance(_ progress: FailoverProgress<Instant>, to step: FailoverStep, reason: String) -> [FailoverAction] {
        var p = progress
        p.step = step
        p.attempt = 1
        return [move(to: .failingOver(p), reason: reason)] + actions(for: p)
    }

    private mutating func stepFailed(_ step: FailoverStep, node: String?, error: String, now: Instant) -> [FailoverAction] {
        if case .trafficNotSwitched = state, step == .switchTraffic {
            return [.decision("traffic switch failed again: \(error); next try in \(DurationText.format(policy.trafficRetryInterval))"),
                    .scheduleTimer(.retry(.switchTraffic), after: policy.trafficRetryInterval)]
        }
        guard case .failingOver(var p) = state, p.step == step, step != .fence || node == nil || node == p.oldPrimary else {
            if step == .fence, let node, strayFencesInFlight.remove(node) != nil {
                return [.alert(.critical, "could not fence stray primary \(node): \(error)")]
            }
            return [.decision("ignored a late failure of step \(step.rawValue): \(error)")]
        }
        let on = node.map { " on \($0)" } ?? ""
        if p.attempt < policy.stepAttempts {
            let delay = policy.retryDelay * (1 << (p.attempt - 1))
            p.attempt += 1
            state = .failingOver(p)
            return [
                .decision("\(step.rawValue)\(on) failed (attempt \(p.attempt - 1) of \(policy.stepAttempts)): \(error); retrying in \(DurationText.format(delay))"),
                .scheduleTimer(.retry(step), after: delay),
            ]
        }
        if step == .switchTraffic {
            // Never roll back a promotion: the new primary stands, clients are not moved yet.
            lastFailoverAt = now
            lastPrimaryLSN = nil
            let reason = "\(p.candidate) is promoted and accepts writes, but the traffic switch failed \(p.attempt) times (last: \(error)); "
                + "retrying every \(DurationText.format(policy.trafficRetryInterval)); point traffic by hand if this persists"
            return [
                move(to: .trafficNotSwitched(p, reason: reason), reason: reason),
                .alert(.critical, "promoted \(p.candidate) but traffic not switched: \(error)"),
                .scheduleTimer(.retry(.switchTraffic), after: policy.trafficRetryInterval),
            ]
        }
        let reason = "\(step.rawValue)\(on) failed \(p.attempt) times (last: \(error)); an operator must decide"
        return [
            move(to: .failed(p, reason: reason), reason: reason),
            .alert(.critical, "failover \(p.oldPrimary) -> \(p.candidate) stopped at \(step.rawValue): \(error)"),
        ]
    }

    // MARK: - Helpers

    /// Every database node except `primary` and retired former primaries.
    func standbys(excluding primary: String) -> [String] {
        topology.databaseNodes.map(\.name).filter { $0 != primary && !retired.contains($0) }
    }

    private mutating func move(to newState: FailoverState<Instant>, reason: String) -> FailoverAction {
        let from = state.kind
        let to = newState.kind
        precondition(TransitionTable.allows(from: from, to: to), "transition \(from) -> \(to) is not in TransitionTable")
        state = newState
        lastReason = reason
        return .transition(from: from, to: to, reason: reason)
    }

    private static func errorText(_ result: ProbeResult) -> String? {
        if case .unreachable(let reason) = result { return reason }
        return nil
    }
}
