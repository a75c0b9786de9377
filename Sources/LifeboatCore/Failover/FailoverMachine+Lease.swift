/// The primary's lease: granted to the primary's agent, released by it, and the gate a promotion
/// waits at while the old primary may still hold it (docs/failover.md, "The primary's lease").
extension FailoverMachine {
    // MARK: - The primary's lease

    /// After a (re)start, any lease may still be held for a whole TTL.
    public mutating func started(now: Instant) {
        if let ttl = policy.leaseTTL { leaseUnknownUntil = now.advanced(by: ttl) }
    }

    /// What the lease says about `node` now.
    public func leaseView(of node: String, now: Instant) -> LeaseView<Instant> {
        guard policy.leaseTTL != nil else { return .notInUse }
        if let lease, lease.holder == node {
            if lease.released { return .released }
            if now < lease.expiresAt { return .valid(until: lease.expiresAt, renewedAt: lease.renewedAt) }
            if let until = leaseUnknownUntil, now < until { return .unknown(until: until) }
            return .expired(at: lease.expiresAt)
        }
        if let until = leaseUnknownUntil, now < until { return .unknown(until: until) }
        return .notInUse
    }

    mutating func renewLease(_ node: String, now: Instant) -> [FailoverAction] {
        guard let ttl = policy.leaseTTL else { return [.leaseAnswer(.refused(.notInUse))] }
        let primary: String?
        switch state {
        case .monitoring(let p), .confirming(let p, _, _), .holding(let p, _): primary = p
        case .trafficNotSwitched(let p, _): primary = p.candidate
        case .failingOver(let p), .failed(let p, _):
            if p.oldPrimary == node { return [.leaseAnswer(.refused(.failoverRunning(node: node)))] }
            primary = nil
        case .discovering: primary = nil
        }
        guard node == primary else { return [.leaseAnswer(.refused(.notThePrimary(node: node, primary: primary)))] }
        let newlyHeld = lease.map { $0.holder != node || $0.released || now >= $0.expiresAt } ?? true
        lease = PrimaryLease(holder: node, epoch: epoch, renewedAt: now, expiresAt: now.advanced(by: ttl), released: false)
        var actions: [FailoverAction] = [.leaseAnswer(.granted(epoch: epoch, ttl: ttl)), .scheduleTimer(.leaseExpiry, after: ttl)]
        if newlyHeld {
            actions.append(.decision("\(node)'s agent holds the primary lease (\(DurationText.format(ttl)), renewed while its PostgreSQL takes writes)"))
        }
        return actions + evaluate(now: now)
    }

    mutating func releaseLease(_ node: String, now: Instant) -> [FailoverAction] {
        guard policy.leaseTTL != nil else { return [.leaseAnswer(.refused(.notInUse))] }
        var actions: [FailoverAction] = [.leaseAnswer(.released)]
        guard var held = lease, held.holder == node, !held.released else { return actions }
        held.released = true
        lease = held
        actions.append(.decision("\(node)'s agent released the primary lease: its PostgreSQL is down"))
        if case .failingOver(let p) = state, p.step == .awaitLease, p.oldPrimary == node {
            return actions + leaseGate(p, detail: nil, now: now)
        }
        if state.primary == node {
            // Its own agent says it is down: look again now rather than at the next interval.
            actions.append(.probe(nodes: [node], after: .zero))
        }
        return actions + evaluate(now: now)
    }

    /// The old primary could not be fenced: promote once nothing says it may still take writes.
    mutating func fenceUnconfirmed(_ node: String, detail: String, now: Instant) -> [FailoverAction] {
        guard case .failingOver(let p) = state, p.step == .fence, node == p.oldPrimary, !p.planned else {
            if strayFencesInFlight.remove(node) != nil {
                return [.alert(.critical, "could not fence stray primary \(node): \(detail)")]
            }
            return [.decision("ignored a late fence result for \(node): \(detail)")]
        }
        retired.insert(p.oldPrimary)
        retiredBySwitchover.remove(p.oldPrimary)
        return leaseGate(p, detail: detail, now: now)
    }

    /// Promotion waits while the old primary's lease may be held: by its end the old primary has
    /// fenced itself (its agent counts from before its last renewal was sent).
    mutating func leaseGate(_ p: FailoverProgress<Instant>, detail: String?, now: Instant) -> [FailoverAction] {
        let said = detail.map { "old primary \(p.oldPrimary): \($0); " } ?? ""
        switch leaseView(of: p.oldPrimary, now: now) {
        case .valid(let until, _), .unknown(let until):
            let wait = now.duration(to: until)
            if p.step == .awaitLease { return [.scheduleTimer(.leaseExpiry, after: wait)] }
            let reason = "\(said)its lease may be held for \(DurationText.format(wait)) more: waiting until it runs out (the old primary fences itself by then) before promoting \(p.candidate)"
            return advance(p, to: .awaitLease, reason: reason) + [.scheduleTimer(.leaseExpiry, after: wait)]
        case .expired:
            return advance(p, to: .promote, reason: "\(said)its lease ran out (it has fenced itself); promoting \(p.candidate)")
        case .released:
            return advance(p, to: .promote, reason: "\(said)its agent released its lease (its PostgreSQL is down); promoting \(p.candidate)")
        case .notInUse:
            return advance(p, to: .promote, reason: "\(said)promoting \(p.candidate)")
        }
    }

    // MARK: - Failsafe promises

    mutating func failsafePromise(_ node: String, holder: String?, remaining: Duration, now: Instant) -> [FailoverAction] {
        guard topology.node(named: node) != nil else { return [] }
        let before = failsafeVeto(state.primary ?? "", now: now)
        if let holder, remaining > .zero {
            failsafePromises[node] = FailsafePromise(holder: holder, until: now.advanced(by: remaining))
        } else {
            failsafePromises[node] = nil
        }
        switch state {
        case .confirming, .holding:
            // A promise may veto (or stop vetoing) a failover being confirmed.
            return failsafeVeto(state.primary ?? "", now: now) == before ? [] : evaluate(now: now)
        case .discovering, .monitoring, .failingOver, .failed, .trafficNotSwitched:
            return []
        }
    }

    /// A standby's agent holds a promise from `primary`'s agent that is still running: the primary
    /// is alive, takes writes and reaches that standby's region — only the monitor is cut off from it.
    func failsafeVeto(_ primary: String, now: Instant) -> String? {
        guard policy.failsafe, policy.leaseTTL != nil else { return nil }
        let holders = failsafePromises.filter { $0.value.holder == primary && now < $0.value.until }.keys.sorted()
        guard let first = holders.first else { return nil }
        let others = holders.count > 1 ? " (and \(holders.dropFirst().joined(separator: ", ")))" : ""
        return "primary \(primary)'s agent keeps a failsafe promise from standby \(first)'s agent\(others): it is alive, takes writes and reaches that region; only the monitor is cut off from it"
    }
}

/// A standby's agent promised `holder` (the primary's agent) not to be promoted until `until`.
public struct FailsafePromise<Instant: InstantProtocol & Sendable>: Sendable, Equatable {
    public var holder: String
    public var until: Instant
}
