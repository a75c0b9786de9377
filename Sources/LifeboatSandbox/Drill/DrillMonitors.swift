import Foundation
import LifeboatAgentAPI
import LifeboatCore
import LifeboatEngine
import LifeboatEtcd
import LifeboatPorts

/// What a partition drill reads off its monitor(s): whom they watch, the primary's lease, the
/// epoch and the journal on the drill's clock.
protocol DrillMonitorView: Sendable {
    /// The primary the acting monitor watches (nil while it discovers, fails over, or none acts).
    func watching() async -> String?
    /// The acting monitor holds `node`'s lease as renewed (after `after`, when the view can tell).
    func leaseHeld(by node: String, after: ContinuousClock.Instant?) async -> Bool
    func epoch() async -> UInt64
    func journal() async -> [JournalEntry<ContinuousClock.Instant>]
}

/// One monitor in the drill's process.
struct EmbeddedMonitorView: DrillMonitorView {
    let engine: Engine<ContinuousClock>

    func watching() async -> String? {
        if case .monitoring(let primary) = await engine.state { return primary }
        return nil
    }

    func leaseHeld(by node: String, after: ContinuousClock.Instant?) async -> Bool {
        guard let lease = await engine.lease, lease.holder == node, !lease.released else { return false }
        return after.map { lease.renewedAt > $0 } ?? true
    }

    func epoch() async -> UInt64 { await engine.epoch.value }
    func journal() async -> [JournalEntry<ContinuousClock.Instant>] { engine.journal.entries }
}

/// Several `lifeboat monitor` processes over etcd: the state, epoch and journal the leading one
/// keeps in etcd (read through the witness's member), the lease as the leader's API tells an agent.
struct EtcdMonitorView: DrillMonitorView {
    let client: EtcdClient
    let cluster: String
    let lease: LeaseClient
    /// Wall-clock seconds and the drill's clock at one instant: journal lines carry wall time.
    let wallAtStart: Double
    let clockAtStart: ContinuousClock.Instant

    init(client: EtcdClient, cluster: String, lease: LeaseClient) {
        self.client = client
        self.cluster = cluster
        self.lease = lease
        clockAtStart = .now
        wallAtStart = Date().timeIntervalSince1970
    }

    var store: EtcdStateStore { EtcdStateStore(client: client, cluster: cluster) { nil } }

    func watching() async -> String? {
        guard let saved = try? await store.loadSnapshot() else { return nil }
        if case .watching(let primary) = saved.snapshot.phase { return primary }
        return nil
    }

    func leaseHeld(by node: String, after: ContinuousClock.Instant?) async -> Bool {
        guard let status = try? await lease.status(epoch: 0, timeout: .seconds(1)) else { return false }
        return status.primary == node && status.lease == .valid
    }

    func epoch() async -> UInt64 {
        (try? await EtcdEpochStore(client: client, cluster: cluster).load().epoch.value) ?? 0
    }

    func journal() async -> [JournalEntry<ContinuousClock.Instant>] {
        let lines = (try? await store.journal(after: 0, limit: 100_000)) ?? []
        return lines.compactMap { line in
            guard let kind = JournalKind(stored: line.kind, step: line.step, node: line.node) else { return nil }
            let at = clockAtStart.advanced(by: .milliseconds(Int64(((line.unixTime - wallAtStart) * 1000).rounded())))
            return JournalEntry(sequence: Int(line.seq), at: at, epoch: Epoch(line.epoch), kind: kind, message: line.message)
        }
    }
}
