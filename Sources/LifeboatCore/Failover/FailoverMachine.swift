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
    /// The retired former primaries a switchover retired: fenced while fully caught up, so they
    /// rejoin as standbys with nothing of theirs discarded (`failover.rejoin: switchover`).
    public internal(set) var retiredBySwitchover: Set<String> = []
    /// The last WAL position the primary was seen at: the reference for a candidate's lag. Kept
    /// in the snapshot, so a restarted monitor measures lag against what it last saw, not
    /// against the standbys alone.
    public internal(set) var lastPrimaryLSN: LSN?
    /// The timeline the primary was last seen on: a standby on another one has forked and is never a
    /// candidate. Kept in the snapshot too.
    public internal(set) var lastPrimaryTimeline: UInt32?
    var strayFencesInFlight: Set<String> = []
    var lastDiscoveryProblem: String?
    /// Set when a restore found the snapshot at odds with the epoch store (announced on resume).
    var restoreProblem: String?
    /// The primary's lease as granted by this monitor (not kept in the snapshot: after a restart,
    /// every lease counts as possibly held for a whole TTL, `leaseUnknownUntil`).
    public internal(set) var lease: PrimaryLease<Instant>?
    var leaseUnknownUntil: Instant?
    /// Failsafe promises standbys' agents hold, as last reported (not kept in the snapshot: a
    /// promise lasts one TTL, and after a restart every lease counts as held for a TTL anyway).
    public internal(set) var failsafePromises: [String: FailsafePromise<Instant>] = [:]
    /// Each region's application tier, as last reported (`failover.trigger: region`). Not kept in the
    /// snapshot: it is observed again within seconds of a restart, and nothing acts on it until then.
    public internal(set) var appTier: [String: AppTierVerdict] = [:]
    /// The last reason a region failover could not start, so it is said once, not on every report.
    var regionFailoverBlocker: String?
    /// Transitions refused because the table does not allow them (always zero unless there is a bug).
    public internal(set) var invariantViolations = 0

    public init(topology: Topology, detection: DetectionSettings = .default, policy: FailoverPolicy = .default, epoch: Epoch = .initial) {
        self.topology = topology
        self.detection = detection
        self.policy = policy
        self.epoch = epoch
    }

    public mutating func handle(_ event: FailoverEvent, now: Instant) -> [FailoverAction] {
        switch event.escaped() {
        case .probed(let node, let result):
            return probed(node, result, now: now)
        case .stepSucceeded(let step, let node, let detail):
            return stepSucceeded(step, node: node, detail: detail, now: now)
        case .stepFailed(let step, let node, let error):
            return stepFailed(step, node: node, error: error, now: now)
        case .timerFired(.leaseExpiry):
            if case .failingOver(let p) = state, p.step == .awaitLease { return leaseGate(p, detail: nil, now: now) }
            return evaluate(now: now)
        case .lease(.renew(let node)):
            return renewLease(node, now: now)
        case .lease(.release(let node)):
            return releaseLease(node, now: now)
        case .fenceUnconfirmed(let node, let detail):
            return fenceUnconfirmed(node, detail: detail, now: now)
        case .failsafePromise(let node, let holder, let remaining):
            return failsafePromise(node, holder: holder, remaining: remaining, now: now)
        case .appTier(let region, let verdict):
            return appTierReported(region, verdict, now: now)
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
                return [.refused(.nothingToReset)]
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
            if node == state.primary, !status.inRecovery {
                if let lsn = status.currentLSN { lastPrimaryLSN = lsn }
                if let timeline = status.timeline { lastPrimaryTimeline = timeline }
            }
            if status.inRecovery, retired.remove(node) != nil {
                retiredBySwitchover.remove(node)
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
            switch corroborate(primary, since: since, now: now) {
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
            switch corroborate(primary, since: health[primary]?.lastStatusAt ?? now, now: now) {
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
            let error = primaryHealth?.lastResult?.failure?.detail ?? "no answer"
            let reason = "primary \(primary) failed \(primaryHealth?.consecutiveFailures ?? 0) consecutive probes (\(error)); asking the standbys to corroborate"
            let move = move(to: .confirming(primary: primary, since: now, veto: nil), reason: reason)
            return [move, .probe(nodes: standbys(excluding: primary), after: .zero)] + evaluate(now: now)
        }
        // Thresholded like failures: a probe that started before a promotion finished may
        // still report recovery.
        if case .monitoring = state, let primaryHealth, primaryHealth.consecutiveInRecovery >= detection.failureThreshold {
            return [move(to: .discovering, reason: "primary \(primary) reported being in recovery on \(primaryHealth.consecutiveInRecovery) consecutive probes; rediscovering roles")]
        }
        if policy.trigger == .region, case .monitoring = state, let region = topology.node(named: primary)?.region,
           case .down(let healthy, let total, let by)? = appTier[region] {
            let why = "region \(region)'s application tier is down: \(healthy) of \(total) application nodes answer (min_healthy \(policy.minHealthy)), seen by the monitor and by \(by.joined(separator: ", "))"
            return regionFailover(from: primary, why: why, now: now)
        }
        return []
    }

    private mutating func discover() -> [FailoverAction] {
        // Only once every node has been probed: the first writable node to answer is not
        // necessarily the only one.
        guard topology.databaseNodes.allSatisfy({ health[$0.name]?.lastObservedAt != nil }) else { return [] }
        let writable = topology.databaseNodes.map(\.name).filter { health[$0]?.currentStatus?.isWritablePrimary == true }
        if writable.count == 1, let primary = writable.first {
            lastDiscoveryProblem = nil
            lastPrimaryLSN = health[primary]?.currentStatus?.currentLSN
            lastPrimaryTimeline = health[primary]?.currentStatus?.timeline
            return [move(to: .monitoring(primary: primary), reason: "\(primary) is the primary: reachable, not in recovery, accepts writes")]
        }
        if writable.isEmpty {
            // A primary held read-only (its agent fenced it when it could not confirm its lease, or
            // it booted read-only): the only node out of recovery, never retired, is the primary; its
            // agent lifts the fence once it holds the lease.
            let outOfRecovery = topology.databaseNodes.map(\.name).filter { health[$0]?.currentStatus.map { !$0.inRecovery } == true }
            if outOfRecovery.count == 1, let primary = outOfRecovery.first, !retired.contains(primary) {
                lastDiscoveryProblem = nil
                lastPrimaryLSN = health[primary]?.currentStatus?.currentLSN
                lastPrimaryTimeline = health[primary]?.currentStatus?.timeline
                return [move(to: .monitoring(primary: primary),
                             reason: "\(primary) is the primary: reachable and out of recovery, but read-only; its agent lifts the fence once it holds the lease")]
            }
            return []
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
    func corroborate(_ primary: String, since: Instant, now: Instant) -> Corroboration {
        // The primary's own agent is the best witness: it renews the lease only while its
        // PostgreSQL takes writes, releases it when that is down, and fences it when it cannot renew.
        switch leaseView(of: primary, now: now) {
        case .released:
            return .corroborated("primary \(primary) is down: its agent released its lease (its PostgreSQL is down) and the monitor cannot reach it")
        case .valid:
            return .vetoed("primary \(primary)'s agent keeps renewing its lease: it is alive and takes writes; only the monitor's path to its PostgreSQL is failing")
        case .expired(let at):
            if let veto = failsafeVeto(primary, now: now) { return .vetoed(veto) }
            return .corroborated("primary \(primary) is down or cut off: the monitor cannot reach it and its lease ran out \(DurationText.format(at.duration(to: now))) ago, so it has fenced itself")
        case .unknown, .notInUse:
            if let veto = failsafeVeto(primary, now: now) { return .vetoed(veto) }
        }
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
        var choice = chooseCandidate(excluding: primary, enforceLagLimits: true)
        if policy.trigger == .region, let serving = servingRegionChoice(excluding: primary) { choice = serving }
        guard let chosen = choice.chosen else {
            let blocker = choice.allOverLagLimit
                ? "every candidate is over the lag limit (\(choice.summary)); promote by hand with lifeboat failover --to NODE if the loss is acceptable"
                : choice.summary
            return hold(primary, blocker: blocker)
        }
        return beginFailover(from: primary, to: chosen.node, reason: "\(corroboration); \(choice.summary)", manual: false, planned: false, now: now)
    }

    func guardRailBlocking(now: Instant) -> String? {
        if paused { return "the monitor is paused (lifeboat resume to allow failover)" }
        if !policy.automatic { return "automatic failover is off; run lifeboat failover to promote a standby" }
        if let last = lastFailoverAt {
            let elapsed = last.duration(to: now)
            if elapsed < policy.cooldown {
                return "in cooldown: the last failover finished \(DurationText.format(elapsed)) ago and cooldown is \(DurationText.format(policy.cooldown)) (operator failovers and switchovers count too); lifeboat failover --to NODE promotes by hand"
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
            return failoverWithoutPrimary(to: target, by: who, now: now)
        case .failingOver:
            return [.refused(.failoverRunning)]
        case .failed:
            return [.refused(.lastFailoverFailed)]
        }
        let chosen: CandidateAssessment
        switch pick(target, excluding: primary) {
        case .failure(let refusal): return [.refused(refusal)]
        case .success(let assessment): chosen = assessment
        }
        let lag = chosen.lagBytes.map { ", \($0) bytes behind" } ?? ""
        return beginFailover(from: primary, to: chosen.node, reason: "operator \(who) asked for failover to \(chosen.node)\(lag)",
                             manual: true, planned: false, now: now)
    }

    /// Every reachable database node is a standby (none was promoted, or the primary came back in
    /// recovery): the operator names the one to promote. Another node stands in for the old primary
    /// in the workflow — fenced first as a precaution (a standby is read-only already), retired
    /// until seen streaming again, and traffic moved from its region.
    private mutating func failoverWithoutPrimary(to target: String?, by who: String, now: Instant) -> [FailoverAction] {
        guard let target else { return [.refused(.noPrimaryIdentified)] }
        let statuses = topology.databaseNodes.compactMap { node in health[node.name]?.currentStatus.map { (node.name, $0) } }
        // Discovery has not finished, or some node is out of recovery: not this case.
        guard statuses.count == topology.databaseNodes.count || statuses.contains(where: { $0.0 == target }),
              statuses.allSatisfy({ $0.1.inRecovery }) else { return [.refused(.noPrimaryIdentified)] }
        guard topology.databaseNodes.contains(where: { $0.name == target }) else {
            return [.refused(.notAStandby(node: target, primary: "no primary"))]
        }
        guard let standIn = topology.databaseNodes.map(\.name).first(where: { $0 != target }) else { return [.refused(.noPrimaryIdentified)] }
        let chosen: CandidateAssessment
        switch pick(target, excluding: standIn) {
        case .failure(let refusal): return [.refused(refusal)]
        case .success(let assessment): chosen = assessment
        }
        return beginFailover(from: standIn, to: chosen.node,
                             reason: "operator \(who) asked for failover to \(chosen.node) with no primary identified (every reachable node is a standby); \(standIn) is fenced first as a precaution",
                             manual: true, planned: false, now: now)
    }

    private mutating func operatorSwitchover(to target: String?, by who: String, now: Instant) -> [FailoverAction] {
        guard case .monitoring(let primary) = state else {
            return [.refused(.switchoverNeedsMonitoring(state: state.kind))]
        }
        guard health[primary]?.verdict == .healthy, health[primary]?.currentStatus?.isWritablePrimary == true else {
            return [.refused(.primaryNotHealthy(primary: primary))]
        }
        switch pick(target, excluding: primary) {
        case .failure(let refusal):
            return [.refused(refusal)]
        case .success(let chosen):
            return beginFailover(from: primary, to: chosen.node, reason: "operator \(who) asked for a switchover to \(chosen.node) (planned, zero data loss)",
                                 manual: true, planned: true, now: now)
        }
    }

    /// The operator's target (or the best standby), ignoring lag limits: an operator may accept a loss.
    private func pick(_ target: String?, excluding primary: String) -> Result<CandidateAssessment, CommandRefusal> {
        let choice = chooseCandidate(excluding: primary, enforceLagLimits: false)
        guard let target else {
            guard let best = choice.chosen else { return .failure(.noCandidate(summary: choice.summary)) }
            return .success(best)
        }
        guard let assessment = choice.assessments.first(where: { $0.node == target }) else {
            return .failure(.notAStandby(node: target, primary: primary))
        }
        if let why = assessment.ineligible { return .failure(.ineligible(node: target, why)) }
        return .success(assessment)
    }

    private func chooseCandidate(excluding primary: String, enforceLagLimits: Bool) -> CandidateChoice {
        CandidateSelection.choose(
            among: standbys(excluding: primary), health: health, lastPrimaryLSN: lastPrimaryLSN, primaryTimeline: lastPrimaryTimeline,
            topology: topology, policy: policy, enforceLagLimits: enforceLagLimits
        )
    }

    mutating func beginFailover(from primary: String, to candidate: String, reason: String, manual: Bool, planned: Bool,
                                        now: Instant) -> [FailoverAction] {
        let others = standbys(excluding: primary).filter { $0 != candidate }
        let progress = FailoverProgress(
            oldPrimary: primary, candidate: candidate, epoch: epoch.next, step: .bumpEpoch, attempt: 1,
            startedAt: now, pendingRepoints: others, otherStandbys: others, manual: manual, planned: planned, reason: reason
        )
        let alert: FailoverAction = planned
            ? .alert(.warning, "switchover started: \(primary) -> \(candidate) under epoch \(progress.epoch)")
            : .alert(.critical, "failover started: \(primary) -> \(candidate) under epoch \(progress.epoch)")
        return [move(to: .failingOver(progress), reason: reason), alert] + actions(for: progress)
    }

    // MARK: - Workflow

    /// The side effects of the step `p` stands at.
    public func actions(for p: FailoverProgress<Instant>) -> [FailoverAction] {
        switch p.step {
        case .bumpEpoch: return [.bumpEpoch(from: Epoch(p.epoch.value - 1), to: p.epoch)]
        case .fence: return [p.planned ? .fenceForSwitchover(node: p.oldPrimary, epoch: p.epoch) : .fence(node: p.oldPrimary, epoch: p.epoch)]
        case .awaitLease: return []
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
            return advance(p, to: .fence, reason: "epoch \(p.epoch) stored\(detail.isEmpty ? "" : " (\(detail))"); fencing \(p.oldPrimary)")
        case .fence:
            retired.insert(p.oldPrimary)
            if p.planned { retiredBySwitchover.insert(p.oldPrimary) } else { retiredBySwitchover.remove(p.oldPrimary) }
            if p.planned {
                return advance(p, to: .catchUp, reason: "old primary \(p.oldPrimary): \(detail); waiting until \(p.candidate) has replayed its last WAL")
            }
            return advance(p, to: .promote, reason: "old primary \(p.oldPrimary): \(detail); promoting \(p.candidate)")
        case .awaitLease:
            // Nothing runs for this step; it ends by the lease timer or a release.
            return [.decision("ignored a result for the lease wait: \(detail)")]
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
            lastPrimaryTimeline = nil
            let took = DurationText.format(p.startedAt.duration(to: now))
            let reason = "failover complete: \(p.candidate) is the primary under epoch \(p.epoch) (\(detail)); took \(took)"
            return [move(to: .monitoring(primary: p.candidate), reason: reason), .alert(.warning, reason)]
        }
    }

    mutating func advance(_ progress: FailoverProgress<Instant>, to step: FailoverStep, reason: String) -> [FailoverAction] {
        var p = progress
        p.step = step
        p.attempt = 1
        return [move(to: .failingOver(p), reason: reason)] + actions(for: p)
    }

    private mutating func stepFailed(_ step: FailoverStep, node: String?, error: StepError, now: Instant) -> [FailoverAction] {
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
        if case .epochConflict(let stored) = error.kind {
            // Another monitor (or a failover of another owner) moved the epoch: this failover must
            // not go on under an epoch it does not own, and is never retried.
            epoch = max(epoch, stored.epoch)
            let reason = "\(step.rawValue) refused: the epoch store holds \(stored), not what this failover expected; it stops here (\(error))"
            return [
                move(to: .failed(p, reason: reason), reason: reason),
                .alert(.critical, "failover \(p.oldPrimary) -> \(p.candidate) stopped: another monitor has acted (\(stored))"),
            ]
        }
        if p.attempt < policy.stepAttempts {
            // Doubling, bounded: a large step_attempts must not overflow the shift or wait for ages.
            let delay = min(policy.retryDelay * (1 << min(p.attempt - 1, 10)), max(policy.retryDelay, .seconds(30)))
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
            lastPrimaryTimeline = nil
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

    /// Every state change goes through here and is checked against the table. A change the
    /// table does not allow is a bug: the machine stops in `failed` (an operator must look)
    /// rather than crash the monitor mid-failover or act on a state it should not be in.
    private mutating func move(to newState: FailoverState<Instant>, reason: String) -> FailoverAction {
        let from = state.kind
        let to = newState.kind
        guard TransitionTable.allows(from: from, to: to) else {
            let why = "internal error: the transition \(from.rawValue) -> \(to.rawValue) is not in the transition table (\(reason)); stopped for an operator"
            let progress: FailoverProgress<Instant>
            switch state {
            case .failingOver(let p), .failed(let p, _), .trafficNotSwitched(let p, _): progress = p
            case .discovering, .monitoring, .confirming, .holding:
                lastReason = why
                invariantViolations += 1
                return .alert(.critical, why)
            }
            invariantViolations += 1
            state = .failed(progress, reason: why)
            lastReason = why
            return .alert(.critical, why)
        }
        state = newState
        lastReason = reason
        return .transition(from: from, to: to, reason: reason)
    }
}
