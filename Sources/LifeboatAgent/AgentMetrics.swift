import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import Prometheus

/// The agent's `/metrics`: its own registry (not the process-wide MetricsSystem), labels fixed
/// by the config: check names, path names, action names and refusal reasons.
public final class AgentMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let checkUp: [String: Gauge]
    private let checkDuration: [String: Gauge]
    private let healthy: Gauge
    private let roles: [DatabaseRole: Gauge]
    private let filesLastSuccess: [String: Gauge]
    private let filesAge: [String: Gauge]
    private let filesBytes: [String: Gauge]
    private let filesErrors: [String: Gauge]
    private let filesSource: Gauge
    private let filesEpoch: Gauge
    private let rejected: [AuthFailure: Counter]
    private let actions: [String: Counter]
    private let lastSuccess = Mutex<[String: Date]>([:])
    private let leaseHeld: Gauge
    private let leaseRemaining: Gauge
    private let leaseFailsafe: Gauge
    private let leaseRenewals: Gauge
    private let leaseSelfFences: Gauge

    init(config: AgentConfiguration) {
        let r = registry
        checkUp = Dictionary(uniqueKeysWithValues: config.checks.map {
            ($0.name, r.makeGauge(descriptor: describe("lifeboat_agent_check_up", "1 when the check passed its latest run"), labels: [("check", $0.name), ("type", $0.type)]))
        })
        checkDuration = Dictionary(uniqueKeysWithValues: config.checks.map {
            ($0.name, r.makeGauge(descriptor: describe("lifeboat_agent_check_duration_seconds", "how long the check's latest run took"), labels: [("check", $0.name), ("type", $0.type)]))
        })
        healthy = r.makeGauge(descriptor: describe("lifeboat_agent_healthy", "1 when every check passed (what /healthz answers 200 for)"))
        roles = Dictionary(uniqueKeysWithValues: [DatabaseRole.primary, .replica, .fenced, .unknown].map {
            ($0, r.makeGauge(descriptor: describe("lifeboat_agent_database_role", "1 for the local database's current role"), labels: [("role", $0.rawValue)]))
        })
        let paths = config.files?.paths.map(\.name) ?? []
        filesLastSuccess = Dictionary(uniqueKeysWithValues: paths.map {
            ($0, r.makeGauge(descriptor: describe("lifeboat_agent_files_last_success_timestamp_seconds", "Unix time of the path's last successful sync (0: never)"), labels: [("path", $0)]))
        })
        filesAge = Dictionary(uniqueKeysWithValues: paths.map {
            ($0, r.makeGauge(descriptor: describe("lifeboat_agent_files_age_seconds", "seconds since the path's last successful sync (-1: never)"), labels: [("path", $0)]))
        })
        filesBytes = Dictionary(uniqueKeysWithValues: paths.map {
            ($0, r.makeGauge(descriptor: describe("lifeboat_agent_files_received_bytes", "bytes rsync received for the path since the agent started"), labels: [("path", $0)]))
        })
        filesErrors = Dictionary(uniqueKeysWithValues: paths.map {
            ($0, r.makeGauge(descriptor: describe("lifeboat_agent_files_errors", "failed or refused syncs of the path since the agent started"), labels: [("path", $0)]))
        })
        filesSource = r.makeGauge(descriptor: describe("lifeboat_agent_files_source", "1 when this region is the files' source (primary region)"))
        filesEpoch = r.makeGauge(descriptor: describe("lifeboat_agent_files_epoch", "the epoch file replication follows"))
        rejected = Dictionary(uniqueKeysWithValues: AuthFailure.allCases.map {
            ($0, r.makeCounter(descriptor: describe("lifeboat_agent_requests_rejected_total", "signed-action requests refused, by reason"), labels: [("reason", $0.rawValue)]))
        })
        actions = Dictionary(uniqueKeysWithValues: ["fence", "status", "sync-now"].map {
            ($0, r.makeCounter(descriptor: describe("lifeboat_agent_actions_total", "authenticated actions run, by action"), labels: [("action", $0)]))
        })
        for gauge in filesAge.values { gauge.set(to: -1) }
        leaseHeld = r.makeGauge(descriptor: describe("lifeboat_agent_lease_held", "1 while this node's agent holds the primary lease (lease: configured)"))
        leaseRemaining = r.makeGauge(descriptor: describe("lifeboat_agent_lease_remaining_seconds", "seconds until the agent fences its PostgreSQL unless the lease is renewed (0: not held)"))
        leaseFailsafe = r.makeGauge(descriptor: describe("lifeboat_agent_lease_failsafe", "1 while the primary keeps writes in failsafe mode (monitor unreachable, every standby's agent promised)"))
        leaseRenewals = r.makeGauge(descriptor: describe("lifeboat_agent_lease_renewals", "lease renewals granted since the agent started"))
        leaseSelfFences = r.makeGauge(descriptor: describe("lifeboat_agent_lease_self_fences", "times the agent fenced its own PostgreSQL since it started (lease lost or refused)"))
    }

    /// The lease keeper's state at scrape time.
    func record(lease: LeaseKeeper.Snapshot) {
        leaseHeld.set(to: lease.held ? 1 : 0)
        leaseRemaining.set(to: max(0, lease.remainingSeconds))
        leaseFailsafe.set(to: lease.failsafe ? 1 : 0)
        leaseRenewals.set(Double(lease.renewals))
        leaseSelfFences.set(Double(lease.selfFences))
    }

    func record(_ snapshot: HealthSnapshot) {
        for report in snapshot.checks {
            checkUp[report.name]?.set(to: report.ok ? 1 : 0)
            checkDuration[report.name]?.set(to: report.duration)
        }
        healthy.set(to: snapshot.ok ? 1 : 0)
        if let role = snapshot.role { for (r, gauge) in roles { gauge.set(to: r == role ? 1 : 0) } }
    }

    func record(_ files: FilesStatus) {
        filesSource.set(to: files.source ? 1 : 0)
        filesEpoch.set(Double(files.epoch))
        for path in files.paths {
            if let at = path.lastSuccess {
                filesLastSuccess[path.name]?.set(to: at.timeIntervalSince1970)
                lastSuccess.withLock { $0[path.name] = at }
            }
            filesBytes[path.name]?.set(Double(path.totalBytes))
            filesErrors[path.name]?.set(Double(path.errors))
        }
    }

    func rejected(_ reason: AuthFailure) { rejected[reason]?.increment() }
    func action(_ name: String) { actions[name]?.increment() }

    /// The exposition, with ages computed now.
    public func exposition() -> String {
        let now = Date()
        for (name, at) in lastSuccess.withLock({ $0 }) { filesAge[name]?.set(now.timeIntervalSince(at)) }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

import Synchronization

private func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
