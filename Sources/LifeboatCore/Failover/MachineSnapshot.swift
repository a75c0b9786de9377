/// What a monitor must remember across a restart: where the failover workflow stands, the
/// epoch, and the guard rails' memory. Instants are stored as ages so any clock can restore them.
public struct MachineSnapshot: Codable, Sendable, Equatable {
    public struct Progress: Codable, Sendable, Equatable {
        public var oldPrimary: String
        public var candidate: String
        public var epoch: UInt64
        public var step: FailoverStep
        public var attempt: Int
        public var pendingRepoints: [String]
        public var otherStandbys: [String]
        public var manual: Bool
        public var planned: Bool?
        public var reason: String
        public var startedAgo: Int64

        public init(oldPrimary: String, candidate: String, epoch: UInt64, step: FailoverStep, attempt: Int, pendingRepoints: [String],
                    otherStandbys: [String], manual: Bool, planned: Bool?, reason: String, startedAgo: Int64) {
            self.oldPrimary = oldPrimary
            self.candidate = candidate
            self.epoch = epoch
            self.step = step
            self.attempt = attempt
            self.pendingRepoints = pendingRepoints
            self.otherStandbys = otherStandbys
            self.manual = manual
            self.planned = planned
            self.reason = reason
            self.startedAgo = startedAgo
        }
    }

    public enum Phase: Codable, Sendable, Equatable {
        case discovering
        case watching(primary: String)
        case failingOver(Progress)
        case failed(Progress, reason: String)
        case trafficNotSwitched(Progress, reason: String)
    }

    public var phase: Phase
    public var epoch: UInt64
    public var paused: Bool
    public var retired: [String]
    /// Milliseconds since the last failover finished, when one has.
    public var lastFailoverAgo: Int64?
    public var lastReason: String
    /// The last WAL position the primary was seen at (absent in snapshots from before 0.2).
    public var lastPrimaryLSN: UInt64?
    /// The timeline the primary was last seen on (absent in snapshots from before 0.2).
    public var lastPrimaryTimeline: UInt32?
    /// The node whose agent held the primary's lease (absent: none did). A restored machine counts
    /// that lease as granted at the restart: valid for one TTL, then expired unless renewed — so a
    /// new leader (or a restarted monitor) neither promotes while it may still be held nor waits
    /// forever on a standby's WAL receiver once it cannot be.
    public var leaseHolder: String?
    /// Retired former primaries that a switchover retired (absent in older snapshots: none).
    public var retiredBySwitchover: [String]?

    public init(phase: Phase, epoch: UInt64, paused: Bool, retired: [String], lastFailoverAgo: Int64?, lastReason: String,
                lastPrimaryLSN: UInt64? = nil, lastPrimaryTimeline: UInt32? = nil, leaseHolder: String? = nil) {
        self.leaseHolder = leaseHolder
        self.lastPrimaryLSN = lastPrimaryLSN
        self.lastPrimaryTimeline = lastPrimaryTimeline
        self.phase = phase
        self.epoch = epoch
        self.paused = paused
        self.retired = retired
        self.lastFailoverAgo = lastFailoverAgo
        self.lastReason = lastReason
    }

    func withRetiredBySwitchover(_ nodes: [String]?) -> MachineSnapshot {
        var copy = self
        copy.retiredBySwitchover = nodes
        return copy
    }

    /// The same snapshot with every age zeroed: two snapshots that differ only in how long ago
    /// things happened hold the same facts (the engine saves only when the facts change).
    public var facts: MachineSnapshot {
        var copy = self
        copy.lastFailoverAgo = lastFailoverAgo.map { _ in 0 }
        func zero(_ p: Progress) -> Progress { var p = p; p.startedAgo = 0; return p }
        switch phase {
        case .discovering, .watching: break
        case .failingOver(let p): copy.phase = .failingOver(zero(p))
        case .failed(let p, let r): copy.phase = .failed(zero(p), reason: r)
        case .trafficNotSwitched(let p, let r): copy.phase = .trafficNotSwitched(zero(p), reason: r)
        }
        return copy
    }

    /// Adds `gap` (time the monitor was down) to every age.
    public func aged(by gap: Duration) -> MachineSnapshot {
        var copy = self
        let ms = gap.milliseconds
        copy.lastFailoverAgo = lastFailoverAgo.map { $0 + ms }
        func age(_ p: Progress) -> Progress { var p = p; p.startedAgo += ms; return p }
        switch phase {
        case .discovering, .watching: break
        case .failingOver(let p): copy.phase = .failingOver(age(p))
        case .failed(let p, let r): copy.phase = .failed(age(p), reason: r)
        case .trafficNotSwitched(let p, let r): copy.phase = .trafficNotSwitched(age(p), reason: r)
        }
        return copy
    }
}

extension FailoverMachine {
    public func snapshot(now: Instant) -> MachineSnapshot {
        func progress(_ p: FailoverProgress<Instant>) -> MachineSnapshot.Progress {
            MachineSnapshot.Progress(
                oldPrimary: p.oldPrimary, candidate: p.candidate, epoch: p.epoch.value, step: p.step, attempt: p.attempt,
                pendingRepoints: p.pendingRepoints, otherStandbys: p.otherStandbys, manual: p.manual, planned: p.planned, reason: p.reason,
                startedAgo: p.startedAt.duration(to: now).milliseconds
            )
        }
        let phase: MachineSnapshot.Phase = switch state {
        case .discovering: .discovering
        // Confirming and holding depend on fresh observations: after a restart they are re-derived.
        case .monitoring(let p), .confirming(let p, _, _), .holding(let p, _): .watching(primary: p)
        case .failingOver(let p): .failingOver(progress(p))
        case .failed(let p, let reason): .failed(progress(p), reason: reason)
        case .trafficNotSwitched(let p, let reason): .trafficNotSwitched(progress(p), reason: reason)
        }
        return MachineSnapshot(
            phase: phase, epoch: epoch.value, paused: paused, retired: retired.sorted(),
            lastFailoverAgo: lastFailoverAt.map { $0.duration(to: now).milliseconds }, lastReason: lastReason,
            lastPrimaryLSN: lastPrimaryLSN?.value, lastPrimaryTimeline: lastPrimaryTimeline, leaseHolder: lease?.holder
        ).withRetiredBySwitchover(retiredBySwitchover.isEmpty ? nil : retiredBySwitchover.sorted())
    }

    /// A machine as it was when `snapshot` was taken, `snapshot`'s ages measured back from `now`.
    /// `stored` is what the epoch store holds now and `owner` this monitor's id: the epoch is the
    /// greater of the store's and the snapshot's, and a failover the store shows superseded (a
    /// newer epoch, or its own epoch stored by another owner) is not resumed.
    public init(restoring snapshot: MachineSnapshot, stored: EpochRecord, owner: String, topology: Topology, detection: DetectionSettings,
                policy: FailoverPolicy, now: Instant) {
        self.init(topology: topology, detection: detection, policy: policy, epoch: max(Epoch(snapshot.epoch), stored.epoch))
        func progress(_ p: MachineSnapshot.Progress) -> FailoverProgress<Instant> {
            FailoverProgress(
                oldPrimary: p.oldPrimary, candidate: p.candidate, epoch: Epoch(p.epoch), step: p.step, attempt: p.attempt,
                startedAt: now.advanced(by: .milliseconds(-p.startedAgo)), pendingRepoints: p.pendingRepoints,
                otherStandbys: p.otherStandbys, manual: p.manual, planned: p.planned ?? false, reason: p.reason
            )
        }
        paused = snapshot.paused
        retired = Set(snapshot.retired)
        retiredBySwitchover = Set(snapshot.retiredBySwitchover ?? []).intersection(retired)
        lastFailoverAt = snapshot.lastFailoverAgo.map { now.advanced(by: .milliseconds(-$0)) }
        lastReason = snapshot.lastReason
        lastPrimaryLSN = snapshot.lastPrimaryLSN.map { LSN($0) }
        lastPrimaryTimeline = snapshot.lastPrimaryTimeline
        if let holder = snapshot.leaseHolder, let ttl = policy.leaseTTL {
            lease = PrimaryLease(holder: holder, epoch: epoch, renewedAt: now, expiresAt: now.advanced(by: ttl), released: false)
        }
        switch snapshot.phase {
        case .discovering:
            state = .discovering
        case .watching(let primary):
            if stored.epoch > Epoch(snapshot.epoch) {
                // Another monitor failed over while this one was away: its primary is not ours to assume.
                state = .discovering
                lastPrimaryLSN = nil
                lastPrimaryTimeline = nil
                restoreProblem = "the epoch store holds \(stored), newer than this monitor's epoch \(snapshot.epoch); rediscovering roles instead of assuming \(primary) is the primary"
                lastReason = restoreProblem!
            } else {
                state = .monitoring(primary: primary)
            }
        case .failingOver(let p):
            let inFlight = progress(p)
            let superseded = stored.epoch > inFlight.epoch || (stored.epoch == inFlight.epoch && stored.owner != owner)
            let lost = inFlight.step != .bumpEpoch && stored.epoch < inFlight.epoch
            if superseded || lost {
                let why = superseded
                    ? "the failover \(p.oldPrimary) -> \(p.candidate) under epoch \(p.epoch) was superseded while this monitor was down: the epoch store holds \(stored); not resuming it"
                    : "the failover \(p.oldPrimary) -> \(p.candidate) stood past storing epoch \(p.epoch), but the epoch store holds \(stored); not resuming it"
                state = .failed(inFlight, reason: why)
                restoreProblem = why
                lastReason = why
            } else {
                state = .failingOver(inFlight)
            }
        case .failed(let p, let reason): state = .failed(progress(p), reason: reason)
        case .trafficNotSwitched(let p, let reason): state = .trafficNotSwitched(progress(p), reason: reason)
        }
    }

    /// What to do after a restart: re-issue the step the workflow stood at (every step is
    /// idempotent), or re-arm the traffic-switch retry.
    public func resumeActions() -> [FailoverAction] {
        if let restoreProblem { return [.alert(.critical, restoreProblem)] }
        switch state {
        case .failingOver(let p):
            let wait: [FailoverAction] = p.step == .awaitLease ? [.scheduleTimer(.leaseExpiry, after: .zero)] : []
            return [.decision("resuming after a restart at step \(p.step.rawValue) of the failover \(p.oldPrimary) -> \(p.candidate) (epoch \(p.epoch))")]
                + actions(for: p) + wait
        case .trafficNotSwitched:
            return [.scheduleTimer(.retry(.switchTraffic), after: .zero)]
        case .discovering, .monitoring, .confirming, .holding, .failed:
            return []
        }
    }
}
