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
        return policy
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
