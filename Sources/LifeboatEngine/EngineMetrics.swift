import LifeboatCore
import Metrics

/// The monitor's metrics, created once with fixed, bounded dimensions (node, region, state,
/// outcome): never per-request values.
public struct EngineMetrics: Sendable {
    /// HELP text for each metric. swift-metrics has no place for it, so the exposition is
    /// annotated with these (`annotate(_:)`), which Prometheus' lint (`promtool check metrics`) wants.
    public static let help: [String: String] = [
        "lifeboat_node_up": "1 when the node answered its latest probe",
        "lifeboat_node_primary": "1 when the node accepts writes (not in recovery, not fenced)",
        "lifeboat_node_streaming": "1 when the node is a standby whose WAL receiver streams",
        "lifeboat_node_read_only_primary": "1 when the node the monitor follows as the primary is out of recovery but read-only (fenced, or made read-only behind Lifeboat's back)",
        "lifeboat_replication_lag_bytes": "bytes of WAL the node lacks compared with the primary's last known position",
        "lifeboat_replication_lag_seconds": "how far the node's replay trails, in seconds",
        "lifeboat_probe_duration_seconds": "time one probe of the node took",
        "lifeboat_state": "1 for the failover state machine's current state",
        "lifeboat_epoch": "the current fencing epoch",
        "lifeboat_paused": "1 when automatic failover is paused",
        "lifeboat_failovers_total": "failovers by outcome",
        "lifeboat_last_dns_switch_timestamp_seconds": "Unix time of the last successful DNS switch (0: none)",
        "lifeboat_notifications_failed_total": "notifications that could not be delivered, by channel",
        "lifeboat_state_save_failures_total": "decisions not carried out because the monitor's state could not be saved",
        "lifeboat_service_up": "1 when the application node's health check passed",
        "lifeboat_region_serving": "1 while at least failover.min_healthy of the region's application nodes are up; 0 while fewer are (seen by the monitor)",
        "lifeboat_region_serving_confirmed_down": "1 while another region's agent confirms the region's application tier is down",
        "lifeboat_agent_up": "1 when the node's agent answered its latest signed status request",
        "lifeboat_deployment_drift": "1 when the node's app binary or config files differ from its peers'",
        "lifeboat_files_age_seconds": "seconds since the node's agent last synced the path from the primary region (0 in the primary region, -1: never)",
        "lifeboat_synchronous_standbys_required": "standbys that must confirm each commit (durability: sync 1, quorum a majority, async 0)",
        "lifeboat_synchronous_standbys_streaming": "standbys streaming from the primary that can confirm commits",
        "lifeboat_durability_degraded": "1 while fewer standbys stream than durability: needs (commits wait, or with when_short: async go on with fewer)",
        "lifeboat_replication_slot_retained_bytes": "WAL the primary keeps for this Lifeboat replication slot (its current position minus the slot's restart_lsn)",
        "lifeboat_replication_slot_active": "1 while a standby streams through this Lifeboat replication slot",
        "lifeboat_replication_slot_retained_bytes_limit": "replication_slots.alert_retained: a slot keeping more WAL than this raises LifeboatReplicationSlotRetainingWAL",
        "lifeboat_files_errors": "failed or refused syncs of the path the node's agent reports since it started",
    ]

    /// Adds `# HELP` lines before each of our metrics' `# TYPE` line.
    public static func annotate(_ exposition: String) -> String {
        var out: [Substring] = []
        for line in exposition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.split(separator: " ").dropFirst(2).first, let text = help[String(name)] {
                out.append("# HELP \(name) \(text)")
            }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    struct NodeMetrics: Sendable {
        let up: Gauge
        let primary: Gauge
        let streaming: Gauge
        let readOnlyPrimary: Gauge
        let lagBytes: Gauge
        let lagSeconds: Gauge
        let probeDuration: Metrics.Timer
    }

    let nodes: [String: NodeMetrics]
    let states: [StateKind: Gauge]
    let epoch: Gauge
    let paused: Gauge
    let failovers: [String: Counter]
    let lastDNSSwitch: Gauge
    let notificationFailures: [String: Counter]
    let stateSaveFailures: Counter

    static let outcomes = ["complete", "failed", "traffic_not_switched"]

    init(topology: Topology, channels: [String] = []) {
        notificationFailures = Dictionary(uniqueKeysWithValues: channels.map {
            ($0, Counter(label: "lifeboat_notifications_failed_total", dimensions: [("channel", $0)]))
        })
        var nodes: [String: NodeMetrics] = [:]
        for node in topology.databaseNodes {
            let dims = [("node", node.name), ("region", node.region)]
            nodes[node.name] = NodeMetrics(
                up: Gauge(label: "lifeboat_node_up", dimensions: dims),
                primary: Gauge(label: "lifeboat_node_primary", dimensions: dims),
                streaming: Gauge(label: "lifeboat_node_streaming", dimensions: dims),
                readOnlyPrimary: Gauge(label: "lifeboat_node_read_only_primary", dimensions: dims),
                lagBytes: Gauge(label: "lifeboat_replication_lag_bytes", dimensions: dims),
                lagSeconds: Gauge(label: "lifeboat_replication_lag_seconds", dimensions: dims),
                probeDuration: Metrics.Timer(label: "lifeboat_probe_duration_seconds", dimensions: dims, preferredDisplayUnit: .seconds)
            )
        }
        self.nodes = nodes
        states = Dictionary(uniqueKeysWithValues: StateKind.allCases.map { ($0, Gauge(label: "lifeboat_state", dimensions: [("state", $0.rawValue)])) })
        epoch = Gauge(label: "lifeboat_epoch")
        paused = Gauge(label: "lifeboat_paused")
        failovers = Dictionary(uniqueKeysWithValues: Self.outcomes.map { ($0, Counter(label: "lifeboat_failovers_total", dimensions: [("outcome", $0)])) })
        lastDNSSwitch = Gauge(label: "lifeboat_last_dns_switch_timestamp_seconds")
        stateSaveFailures = Counter(label: "lifeboat_state_save_failures_total")
        stateSaveFailures.increment(by: 0)
        for outcome in Self.outcomes { failovers[outcome]?.increment(by: 0) }
    }

    /// `followed`: the node the monitor treats as the primary now.
    func probed(_ node: String, _ result: ProbeResult, took: Duration, primaryLSN: LSN?, followed: String?) {
        guard let m = nodes[node] else { return }
        m.probeDuration.recordNanoseconds(took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000)
        guard let status = result.status else {
            m.up.record(0)
            return
        }
        m.up.record(1)
        m.primary.record(status.isWritablePrimary ? 1 : 0)
        m.streaming.record(status.inRecovery && status.isStreaming ? 1 : 0)
        m.readOnlyPrimary.record(node == followed && !status.inRecovery && status.readOnly ? 1 : 0)
        if status.inRecovery {
            if let lsn = status.durableLSN, let primaryLSN { m.lagBytes.record(Double(primaryLSN.bytes(after: lsn))) }
            m.lagSeconds.record(status.replayLag?.seconds ?? 0)
        } else {
            m.lagBytes.record(0)
            m.lagSeconds.record(0)
        }
    }

    func state(_ kind: StateKind, epoch value: Epoch, paused isPaused: Bool) {
        for (state, gauge) in states { gauge.record(state == kind ? 1 : 0) }
        epoch.record(Double(value.value))
        paused.record(isPaused ? 1 : 0)
    }

    func failover(outcome: String) { failovers[outcome]?.increment() }

    func notificationFailed(_ channel: String) { notificationFailures[channel]?.increment() }

    func stateSaveFailed() { stateSaveFailures.increment() }
}
