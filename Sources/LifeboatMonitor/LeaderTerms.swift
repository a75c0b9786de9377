import Foundation
import LifeboatEngine
import LifeboatEtcd
import LifeboatHTTP
import Logging
import ServiceLifecycle
import Synchronization

/// The engine that probes, decides and acts now: always the same one with a single monitor; with
/// several monitors over etcd, the leading monitor's engine of its current term, and none on a
/// monitor that does not lead.
public final class EngineSlot: Sendable {
    private let current: Mutex<Engine<ContinuousClock>?>
    /// Several monitors: the election (nil with one monitor).
    public let leadership: EtcdLeadership?

    init(fixed engine: Engine<ContinuousClock>) {
        current = Mutex(engine)
        leadership = nil
    }

    init(leadership: EtcdLeadership) {
        current = Mutex(nil)
        self.leadership = leadership
    }

    public var engine: Engine<ContinuousClock>? { current.withLock { $0 } }

    func set(_ engine: Engine<ContinuousClock>?) { current.withLock { $0 = engine } }

    /// For the status view: who leads (nil with one monitor).
    public func monitors() async -> StatusView.Monitors? {
        guard let leadership else { return nil }
        let leader = await leadership.leader
        return StatusView.Monitors(me: leadership.me.monitor, leader: leader?.monitor, leaderAPI: leader?.api, leading: await leadership.leads())
    }

    /// What a command sent to a monitor that does not lead is told.
    func notLeader() async -> CommandAnswer {
        let leader = await leadership?.leader
        return .notLeader(leader: leader?.monitor, api: leader?.api)
    }
}

/// Several monitors: campaigns for the leadership in etcd and runs an engine for each term this
/// monitor leads — built fresh, so it resumes from the state the last leader saved in etcd, and
/// cancelled the moment the term ends (before any other monitor can have won). An engine that
/// fails (etcd's state unreadable) gives the term up so another monitor can lead.
struct LeaderTerms: Service {
    let leadership: EtcdLeadership
    let slot: EngineSlot
    let make: @Sendable (EtcdLeadership.Term) throws -> Engine<ContinuousClock>
    let logger: Logger

    final class Running: Sendable {
        let task = Mutex<Task<Void, Never>?>(nil)
        /// Engines of ended terms, cancelled, perhaps not finished yet.
        let stopping = Mutex<[Task<Void, Never>]>([])
    }

    func run() async throws {
        let running = Running()
        let leadership = self.leadership, slot = self.slot, make = self.make, logger = self.logger
        let changed: @Sendable (EtcdLeadership.Term?) async -> Void = { @Sendable term in
            // The previous term's engine stops at once; it no longer answers anything.
            slot.set(nil)
            let previous = running.task.withLock { task -> Task<Void, Never>? in
                defer { task = nil }
                return task
            }
            if let previous {
                previous.cancel()
                running.stopping.withLock { $0.append(previous) }
            }
            guard let term else { return }
            // Never two engines of this monitor at once.
            for old in running.stopping.withLock({ list in defer { list = [] }; return list }) { await old.value }
            do {
                let engine = try make(term)
                slot.set(engine)
                running.task.withLock { task in
                    task = Task {
                        do {
                            try await engine.run()
                        } catch is CancellationError {
                        } catch {
                            logger.error("the leading monitor's engine stopped: \(error); giving the leadership up")
                            slot.set(nil)
                            Task { await leadership.resign { _ in } }
                        }
                    }
                }
            } catch {
                logger.error("cannot build the engine for this term: \(error); giving the leadership up")
                Task { await leadership.resign { _ in } }
            }
        }
        await cancelWhenGracefulShutdown {
            await leadership.run(changed: changed)
        }
        let last = running.task.withLock { $0 }
        last?.cancel()
        await last?.value
        for old in running.stopping.withLock({ $0 }) { await old.value }
    }
}
