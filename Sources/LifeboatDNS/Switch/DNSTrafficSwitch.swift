import LifeboatCore
import LifeboatPorts

public enum DNSSwitchError: Error, Equatable, CustomStringConvertible {
    case noTargets(region: String)
    /// The record holds neither the old primary region's targets nor the new one's.
    case unexpectedTargets(record: String, found: [String], expected: [String])
    case notVerified(record: String, servers: [String], after: Duration)
    /// An operator's `dns point` found the record holding none of any region's targets: it may be
    /// someone else's record (a wrong `dns.record`), so it is replaced only with `--force`.
    case foreignTargets(record: String, found: [String], configured: [String: [String]])

    public var description: String {
        switch self {
        case .noTargets(let region):
            return "no DNS target is configured for region \(region)"
        case .unexpectedTargets(let record, let found, let expected):
            return "\(record) points at \(found.joined(separator: ", ")), not at \(expected.joined(separator: ", ")) as Lifeboat believes; "
                + "someone else changed it, so it is left alone (point it by hand: lifeboat dns point --to REGION)"
        case .notVerified(let record, let servers, let after):
            return "\(record) was changed but \(servers.joined(separator: ", ")) did not answer the new targets within \(DurationText.format(after))"
        case .foreignTargets(let record, let found, let configured):
            let regions = configured.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.joined(separator: ", "))" }.joined(separator: "; ")
            return "\(record) holds \(found.joined(separator: ", ")), which is no configured region's target (\(regions)): "
                + "it may not be the record Lifeboat should manage (check dns.record and dns.zone); nothing changed. "
                + "To replace it anyway: lifeboat dns point --to REGION --force"
        }
    }
}

/// Moves traffic by pointing a DNS record at the new primary region, with compare-and-swap
/// against the region it believes the record points at, then verifies that the zone's
/// authoritative servers answer the new targets.
public struct DNSTrafficSwitch: TrafficSwitch {
    public var provider: any DNSProvider
    public var targets: [String: [IPv4]]
    public var ttl: Int
    public var verifiers: [any DNSAnswerSource]
    public var verifyTimeout: Duration
    public var pollInterval: Duration
    /// With `failover.trigger: region`: which targets are healthy now (nil: all of them, always).
    public var members: RegionMembers?

    public init(provider: any DNSProvider, targets: [String: [IPv4]], ttl: Int, verifiers: [any DNSAnswerSource],
                verifyTimeout: Duration = .seconds(10), pollInterval: Duration = .milliseconds(50), members: RegionMembers? = nil) {
        self.members = members
        self.provider = provider
        self.targets = targets.mapValues { $0.sorted() }
        self.ttl = ttl
        self.verifiers = verifiers
        self.verifyTimeout = verifyTimeout
        self.pollInterval = pollInterval
    }

    public func switchTraffic(
        toRegion region: String, fromRegion: String, node: String, epoch: Epoch, timeout: Duration,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> TrafficSwitchResult {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let change = try await point(to: region, from: fromRegion, dryRun: false)
        progress(change.summary)
        // Verification gets what is left of the step's deadline, never more than verifyTimeout.
        let verified = try await verify(change.targets, within: min(verifyTimeout, max(.zero, clock.now.duration(to: deadline))))
        progress(verified)
        let exposure = change.oldTTL.map { "; resolvers may keep the old answer for up to \($0)s (its TTL)" } ?? ""
        return TrafficSwitchResult(changed: change.changed, detail: "\(change.summary); \(verified)\(exposure)")
    }

    public struct Change: Sendable, Equatable {
        public var record: String
        public var before: [IPv4]
        public var targets: [IPv4]
        public var oldTTL: Int?
        public var appliedTTL: Int?
        public var changed: Bool
        public var dryRun: Bool

        public var summary: String {
            let list = { (ips: [IPv4]) in ips.map(\.description).joined(separator: ", ") }
            if !changed { return "\(record) already points at \(list(targets))" }
            if dryRun { return "would point \(record) from \(list(before)) to \(list(targets)) with TTL \(appliedTTL ?? 0)s" }
            return "DNS switched: \(record) from \(list(before)) to \(list(targets)), TTL \(appliedTTL ?? 0)s"
        }
    }

    /// Points the record at `region`'s targets if it holds `fromRegion`'s (or `fromRegion` is nil:
    /// whatever it holds, for an operator's explicit command). Idempotent.
    /// An operator's point (`fromRegion` nil) refuses a record holding addresses none of which is a
    /// configured target, unless `force`: it may not be Lifeboat's record. An empty record is created.
    public func point(to region: String, from fromRegion: String?, dryRun: Bool, force: Bool = false) async throws -> Change {
        guard let all = targets[region], !all.isEmpty else { throw DNSSwitchError.noTargets(region: region) }
        let desired = members?.filter(region, all) ?? all
        let (current, currentTTL) = try await provider.currentTargets()
        var change = Change(record: provider.record, before: current, targets: desired, oldTTL: currentTTL, appliedTTL: ttl, changed: false, dryRun: dryRun)
        if current == desired { return change }
        if fromRegion == nil, !force, !current.isEmpty, Set(current).isDisjoint(with: targets.values.flatMap { $0 }) {
            throw DNSSwitchError.foreignTargets(record: provider.record, found: current.map(\.description),
                                                configured: targets.mapValues { $0.map(\.description) })
        }
        if let fromRegion {
            let believed = targets[fromRegion] ?? []
            // The record holds the old region's targets, or (multivalue) the healthy part of them.
            let holdsOldRegion = members == nil ? current == believed : !current.isEmpty && Set(current).isSubset(of: believed)
            guard holdsOldRegion else {
                throw DNSSwitchError.unexpectedTargets(record: provider.record, found: current.map(\.description), expected: believed.map(\.description))
            }
        }
        change.changed = true
        if dryRun { return change }
        change.appliedTTL = try await provider.replaceTargets(expected: current, with: desired, ttl: ttl)
        return change
    }

    /// Multivalue within a region: while the record holds `region`'s targets, keeps it to the ones
    /// whose application nodes answer (compare-and-swap against what it holds now). Nil: nothing
    /// to change (the record holds another region's targets, or already the healthy set).
    public func applyMembers(region: String) async throws -> (change: Change, verified: String)? {
        guard let all = targets[region], !all.isEmpty, let members else { return nil }
        let desired = members.filter(region, all)
        let (current, currentTTL) = try await provider.currentTargets()
        guard current != desired, !current.isEmpty, Set(current).isSubset(of: all) else { return nil }
        var change = Change(record: provider.record, before: current, targets: desired, oldTTL: currentTTL, appliedTTL: ttl, changed: true, dryRun: false)
        change.appliedTTL = try await provider.replaceTargets(expected: current, with: desired, ttl: ttl)
        return (change, try await verify(desired))
    }

    /// Asks every authoritative server until all answer `targets`; returns what it saw and how long it took.
    public func verify(_ desired: [IPv4], within limit: Duration? = nil) async throws -> String {
        let verifyTimeout = limit ?? self.verifyTimeout
        guard !verifiers.isEmpty else { return "not verified: no authoritative servers configured (dns.verify.servers)" }
        let clock = ContinuousClock()
        let start = clock.now
        var pending = verifiers.map(\.name)
        while true {
            var still: [String] = []
            for verifier in verifiers where pending.contains(verifier.name) {
                let answer = (try? await verifier.answer())?.sorted()
                if answer != desired { still.append(verifier.name) }
            }
            pending = still
            if pending.isEmpty {
                return "DNS verified: \(verifiers.count) authoritative server\(verifiers.count == 1 ? " answers" : "s answer") the new targets after \(DurationText.format(start.duration(to: clock.now)))"
            }
            guard start.duration(to: clock.now) < verifyTimeout else {
                throw DNSSwitchError.notVerified(record: provider.record, servers: pending, after: verifyTimeout)
            }
            try await Task.sleep(for: pollInterval)
        }
    }
}
