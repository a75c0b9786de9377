import ArgumentParser
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatHTTP
import LifeboatMonitor
import LifeboatSandbox
import Logging

/// `lifeboat drill --staging --config FILE --confirm CLUSTER`: on a real deployment, through its
/// running monitor, a planned switchover to another region and back, timed, with the same report
/// files as a sandbox drill. Refused unless the cluster's name is typed again, `doctor` finds
/// nothing that would break a failover, and the cluster is healthy (monitoring, not paused, a
/// writable primary, a streaming standby).
struct StagingDrill {
    let configPath: String
    let config: LifeboatConfiguration
    let api: APIOptions
    let progress: @Sendable (String) -> Void

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// Why the cluster is not fit for a drill now (empty: fit).
    static func unfit(_ status: StatusView) -> [String] {
        var why: [String] = []
        if status.state != "monitoring" { why.append("the monitor is \(status.state), not monitoring") }
        if status.paused { why.append("automatic failover is paused (lifeboat resume first)") }
        guard let primary = status.primary, let node = status.nodes.first(where: { $0.name == primary }), node.role == "primary", node.reachable else {
            why.append("no writable primary is identified")
            return why
        }
        let streaming = status.nodes.filter { $0.name != primary && $0.walReceiver == "streaming" && $0.role == "standby" }
        if streaming.isEmpty { why.append("no standby streams from \(primary): a switchover would have nowhere to go") }
        for n in status.nodes where n.name != primary && n.walReceiver != "streaming" {
            why.append("\(n.name) is \(n.role)\(n.walReceiver.map { ", WAL receiver \($0)" } ?? "") (not a streaming standby)")
        }
        return why
    }

    func status() async throws -> StatusView {
        let (code, data) = try await api.call("GET", "/v1/status")
        guard code == 200 else { throw Refusal(description: "the monitor answered \(code) to GET /v1/status") }
        return try api.decode(StatusView.self, data)
    }

    func run(confirm: String?) async throws -> DrillReport {
        guard confirm == config.cluster else {
            throw Refusal(description: "a staging drill moves the primary of cluster \(config.cluster) to another region and back; type its name again: --confirm \(config.cluster)")
        }
        progress("checking the cluster with lifeboat doctor…")
        var logger = Logger(label: "lifeboat.drill.staging")
        logger.logLevel = .critical
        let doctor = await DoctorRun.run(config: config, environment: ProcessInfo.processInfo.environment, logger: logger, timeout: .seconds(5))
        let breaking = doctor.findings.filter { $0.severity == .breaksFailover }
        guard breaking.isEmpty else {
            throw Refusal(description: "lifeboat doctor found what would break a failover; fix it first:\n"
                          + breaking.map { "  \($0.node): \($0.problem)\n    fix: \($0.fix)" }.joined(separator: "\n"))
        }
        let before = try await status()
        let why = Self.unfit(before)
        guard why.isEmpty, let original = before.primary else {
            throw Refusal(description: "the cluster is not healthy enough for a drill: " + why.joined(separator: "; "))
        }
        let (_, latest) = try await api.call("GET", "/v1/events?newest=1")
        let since = (try? JSONDecoder().decode(EventsView.self, from: latest))?.events.map(\.seq).max() ?? 0
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        var problems: [String] = []

        // There: the monitor picks the best standby.
        progress("switchover: \(original) -> the best standby")
        let there = try await switchover(to: nil, from: original)
        let toOther = there.writable.map { start.duration(to: $0).seconds }
        let other = there.primary
        var rejoined: Double?
        if let other {
            if let at = try await waitUntil("\(original) streaming from \(other)", timeout: .seconds(180), { s in Self.streams(original, s) }) {
                rejoined = start.duration(to: at).seconds
            } else {
                problems.append("\(original) did not stream from \(other) within 180 s (failover.rejoin: switchover rejoins it; see lifeboat events)")
            }
        } else {
            problems.append("the switchover away from \(original) did not complete: \(there.why ?? "no new primary")")
        }

        // And back.
        var backAt: Double?, standbyAgain: Double?
        var end = try await status()
        if problems.isEmpty, let other {
            progress("switchover back: \(other) -> \(original)")
            let askedBack = clock.now
            let back = try await switchover(to: original, from: other)
            if let writable = back.writable, back.primary == original {
                backAt = askedBack.duration(to: writable).seconds
                if let at = try await waitUntil("\(other) streaming from \(original)", timeout: .seconds(180), { s in Self.streams(other, s) }) {
                    standbyAgain = askedBack.duration(to: at).seconds
                } else {
                    problems.append("\(other) did not stream from \(original) within 180 s of the switchover back")
                }
            } else {
                problems.append("the switchover back to \(original) did not complete: \(back.why ?? "primary is \(back.primary ?? "none")")")
            }
            end = try await status()
        }
        if end.primary != original { problems.append("the cluster ended with \(end.primary ?? "no primary") as primary, not \(original)") }

        // The journal's sentences as the timeline, from the first request.
        let (_, eventData) = try await api.call("GET", "/v1/events?since=\(since)&limit=1000")
        let events = (try? JSONDecoder().decode(EventsView.self, from: eventData))?.events ?? []
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        var timeline: [(at: Double, event: String, detail: String)] = []
        for event in events {
            guard let at = iso.date(from: event.at) ?? plain.date(from: event.at),
                  let (tag, detail) = SandboxDrill.describe(storedKind: event.kind, step: event.step, node: event.node, message: event.message) else { continue }
            timeline.append((at.timeIntervalSince(startedAt), tag, detail))
        }
        let nodes = end.nodes.map { n in
            (name: n.name, region: n.region, role: n.role, address: config.databaseNodes.first { $0.name == n.name }.map { "\($0.host):\($0.port)" } ?? "")
        }
        let failback = DrillReport.failback(rejoinSeconds: rejoined, switchbackSeconds: backAt, standbyAgainSeconds: standbyAgain,
                                            endPrimary: end.primary, endStreaming: end.nodes.filter { $0.walReceiver == "streaming" }.map(\.name))
        return DrillReport.staging(cluster: config.cluster, nodes: nodes, detection: config.detection, timeline: timeline, toOther: toOther,
                                   failover: toOther, epoch: end.epoch, newPrimary: other, promotions: backAt == nil ? (other == nil ? 0 : 1) : 2,
                                   failback: failback, problems: problems)
    }

    /// `node` streams from the primary and is a failover candidate again (healthy: the monitor has
    /// lifted the retired mark of a rejoined node).
    static func streams(_ node: String, _ status: StatusView) -> Bool {
        status.state == "monitoring"
            && status.nodes.contains { $0.name == node && $0.role == "standby" && $0.walReceiver == "streaming" && $0.health == "healthy" }
    }

    /// Asks for a switchover and waits until the monitor is monitoring a new writable primary.
    func switchover(to target: String?, from old: String) async throws -> (primary: String?, writable: ContinuousClock.Instant?, why: String?) {
        let (code, data) = try await api.call("POST", "/v1/switchover", body: FailoverRequest(to: target, dryRun: false, by: "drill --staging"),
                                              authenticated: true)
        guard (200..<300).contains(code) else {
            return (nil, nil, (try? JSONDecoder().decode(MessageView.self, from: data).message) ?? "the monitor answered \(code)")
        }
        var primary: String?
        let at = try await waitUntil("a new primary", timeout: .seconds(120)) { s in
            guard s.state == "monitoring", let p = s.primary, p != old, target == nil || p == target,
                  s.nodes.contains(where: { $0.name == p && $0.role == "primary" }) else { return false }
            primary = p
            return true
        }
        return (primary, at, at == nil ? "not done within 120 s" : nil)
    }

    func waitUntil(_ what: String, timeout: Duration, _ condition: (StatusView) -> Bool) async throws -> ContinuousClock.Instant? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if let s = try? await status(), condition(s) { return clock.now }
            try await Task.sleep(for: .milliseconds(100))
        }
        progress("gave up waiting for \(what)")
        return nil
    }
}
