/// `failover.trigger: region`: the application tier's verdicts and the failovers they start.
extension FailoverMachine {
    mutating func appTierReported(_ region: String, _ verdict: AppTierVerdict, now: Instant) -> [FailoverAction] {
        guard topology.regions.contains(where: { $0.name == region }) else { return [.decision("ignored an application-tier report for unknown region \(region)")] }
        let before = appTier[region]
        appTier[region] = verdict
        var actions: [FailoverAction] = []
        if before != verdict, before?.serves != verdict.serves || !verdict.serves {
            actions.append(.decision("region \(region)'s application tier: \(verdict.summary)"))
        }
        if verdict.serves, before?.serves == false { regionFailoverBlocker = nil }
        return actions + evaluate(now: now)
    }

    /// The standbys in regions whose application tier serves.
    func servingStandbys(excluding primary: String) -> [String] {
        standbys(excluding: primary).filter { name in topology.node(named: name).map { appTier[$0.region]?.serves == true } ?? false }
    }

    /// A database failover's choice among standbys in serving regions, when there is one.
    func servingRegionChoice(excluding primary: String) -> CandidateChoice? {
        let choice = CandidateSelection.choose(among: servingStandbys(excluding: primary), health: health, lastPrimaryLSN: lastPrimaryLSN,
                                               primaryTimeline: lastPrimaryTimeline, topology: topology, policy: policy, enforceLagLimits: true)
        return choice.chosen == nil ? nil : choice
    }

    /// `failover.trigger: region`: the primary's region cannot serve while its database may be
    /// fine. Database and traffic move together to the best standby in a region whose application
    /// tier serves; with the old primary healthy this is a switchover (fenced caught up, cleanly
    /// demoted, nothing lost), else the usual failover.
    mutating func regionFailover(from primary: String, why: String, now: Instant) -> [FailoverAction] {
        func blocked(_ blocker: String) -> [FailoverAction] {
            guard blocker != regionFailoverBlocker else { return [] }
            regionFailoverBlocker = blocker
            return [.decision("\(why); no region failover: \(blocker)"), .alert(.critical, "\(why); no region failover: \(blocker)")]
        }
        if let blocker = guardRailBlocking(now: now) { return blocked(blocker) }
        let serving = servingStandbys(excluding: primary)
        guard !serving.isEmpty else {
            return blocked("no standby is in a region whose application tier serves (\(appTier.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.summary)" }.joined(separator: "; ")))")
        }
        let primaryHealthy = health[primary]?.verdict == .healthy && health[primary]?.currentStatus?.isWritablePrimary == true
        let choice = CandidateSelection.choose(among: serving, health: health, lastPrimaryLSN: lastPrimaryLSN, primaryTimeline: lastPrimaryTimeline,
                                               topology: topology, policy: policy, enforceLagLimits: !primaryHealthy)
        guard let chosen = choice.chosen else { return blocked(choice.summary) }
        regionFailoverBlocker = nil
        let region = topology.node(named: chosen.node)?.region ?? "?"
        let how = primaryHealthy ? "its database is healthy, so it is a switchover: fenced caught up, demoted cleanly, nothing lost" : "its database is not healthy either"
        return beginFailover(from: primary, to: chosen.node,
                             reason: "\(why); region \(region) serves (\(appTier[region]?.summary ?? "?")); \(how); \(choice.summary)",
                             manual: false, planned: primaryHealthy, now: now)
    }

}
