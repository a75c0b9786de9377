import LifeboatCore
import Yams

/// `failover:` and `durability:`.
extension ConfigParser {
    static func parseFailover(_ node: Node, reader: ConfigReader) -> FailoverPolicy {
        var policy = FailoverPolicy.default
        guard let f = reader.mapping(node, "failover", keys: failoverKeys) else { return policy }
        if let n = f["automatic"], let v = reader.bool(n, f.path("automatic")) { policy.automatic = v }
        if let n = f["max_lag_bytes"], let v = reader.bytes(n, f.path("max_lag_bytes")) { policy.maxLagBytes = v }
        if let n = f["max_lag_seconds"] {
            // A bare number means seconds; a duration such as 30s or 1m works too.
            if case .scalar(let s) = n, let seconds = Int(s.string) {
                if seconds < 0 {
                    reader.error(n, f.path("max_lag_seconds"), "must not be negative")
                } else if seconds > 30 * 24 * 3600 {
                    reader.error(n, f.path("max_lag_seconds"), "must be at most 2592000 (30 days), found \(seconds)")
                } else {
                    policy.maxLagSeconds = .seconds(seconds)
                }
            } else if let v = reader.duration(n, f.path("max_lag_seconds")) {
                policy.maxLagSeconds = v
            }
        }
        if let n = f["cooldown"], let v = reader.duration(n, f.path("cooldown")) { policy.cooldown = v }
        if let n = f["step_attempts"], let v = reader.int(n, f.path("step_attempts"), min: 1, max: 20) { policy.stepAttempts = v }
        if let n = f["retry_delay"], let v = reader.duration(n, f.path("retry_delay"), atLeast: .milliseconds(10), atMost: .seconds(60)) { policy.retryDelay = v }
        if let n = f["lease_ttl"] {
            if reader.isNull(n) {
                policy.leaseTTL = nil
            } else if let v = reader.duration(n, f.path("lease_ttl"), atLeast: .seconds(3), atMost: .seconds(300)) {
                policy.leaseTTL = v
            }
        }
        if let n = f["failsafe"], let v = reader.bool(n, f.path("failsafe")) { policy.failsafe = v }
        if let n = f["rejoin"], let value = choice(RejoinPolicy.self, n, f.path("rejoin"), reader: reader) { policy.rejoin = value }
        if let n = f["trigger"], let value = choice(FailoverTrigger.self, n, f.path("trigger"), reader: reader) { policy.trigger = value }
        if let n = f["min_healthy"], let v = reader.int(n, f.path("min_healthy"), min: 1, max: 1000) { policy.minHealthy = v }
        return policy
    }

    /// `failover.trigger: region` needs, in every region with a database node, at least
    /// `min_healthy` application nodes; a node's `address` must be one of its region's DNS targets.
    static func checkRegionTrigger(_ failover: FailoverPolicy, top: Fields, services: [ServiceConfig], dns: DNSConfig?,
                                   db: [DatabaseNodeConfig], reader: ConfigReader) {
        let appNodes = services.flatMap(\.nodes)
        if let dns {
            for node in appNodes {
                guard let address = node.address else { continue }
                if !(dns.targets[node.region] ?? []).contains(address) {
                    reader.error(top["services"], "services.\(node.name).address",
                                 "\(address) is not one of region \(node.region)'s dns.targets (\((dns.targets[node.region] ?? []).map(\.description).joined(separator: ", "))): the record could never hold it")
                }
            }
        }
        guard failover.trigger == .region, let n = top["failover"]?["trigger"] else {
            if let n = top["failover"]?["min_healthy"], failover.trigger == .database {
                reader.warning(n, "failover.min_healthy", "has no effect with failover.trigger: database (the application tier only informs)")
            }
            return
        }
        let regions = Set(db.map(\.region))
        let short = regions.sorted().filter { region in appNodes.filter { $0.region == region }.count < failover.minHealthy }
        if !short.isEmpty {
            reader.error(n, "failover.trigger", "region needs at least min_healthy (\(failover.minHealthy)) application nodes under services: in every region with a database node; \(short.joined(separator: ", ")) has fewer, so it could never serve")
        }
        // A region's loss counts only when an agent in another region confirms it.
        let agentRegions = Set(db.filter { $0.agent != nil }.map(\.region) + appNodes.filter { $0.agent != nil }.map(\.region))
        let unconfirmable = regions.sorted().filter { region in agentRegions.subtracting([region]).isEmpty }
        if !unconfirmable.isEmpty {
            reader.error(n, "failover.trigger", "region needs an agent in another region to confirm a region's application tier is down; nothing could confirm it for \(unconfirmable.joined(separator: ", ")) (give nodes in the other regions an agent:)")
        }
    }

    static func parseDurability(_ node: Node, into durability: inout DurabilityPolicy, reader: ConfigReader) {
        guard let d = reader.mapping(node, "durability", keys: ["mode", "when_short"]) else { return }
        durability.managed = true
        if let m = d["mode"], let mode = choice(DurabilityPolicy.Mode.self, m, "durability.mode", reader: reader) { durability.mode = mode }
        if let w = d["when_short"], let value = choice(DurabilityPolicy.WhenShort.self, w, "durability.when_short", reader: reader) { durability.whenShort = value }
    }

    static func parseSlots(_ node: Node, into slots: inout SlotPolicy, reader: ConfigReader) {
        guard let s = reader.mapping(node, "replication_slots", keys: ["managed", "alert_retained"]) else { return }
        if let m = s["managed"], let v = reader.bool(m, "replication_slots.managed") { slots.managed = v }
        if let a = s["alert_retained"], let v = reader.bytes(a, "replication_slots.alert_retained") {
            if v == 0 { reader.error(a, "replication_slots.alert_retained", "must be more than 0 bytes (every slot holds some WAL)") } else { slots.alertRetainedBytes = v }
        }
    }

    /// One of an enumeration's raw values, or an error listing them (with a suggestion).
    static func choice<E: RawRepresentable & CaseIterable>(_ type: E.Type, _ node: Node, _ path: String, reader: ConfigReader) -> E? where E.RawValue == String {
        guard let text = reader.string(node, path) else { return nil }
        if let value = E(rawValue: text) { return value }
        let all = E.allCases.map(\.rawValue)
        reader.error(node, path, "expected one of \(all.joined(separator: ", ")), found '\(text)'\(Suggestions.hint(for: text, in: all))")
        return nil
    }
}
