import Foundation
import LifeboatPorts
import Logging

/// Leader election of several monitors over etcd, the way etcd's own election recipe does it: each
/// monitor holds a session (an etcd lease of `ttlSeconds`, kept alive every third of it) and tries
/// to create the leader key `/lifeboat/<cluster>/leader` attached to its session, by a transaction
/// that succeeds only if the key does not exist. The winner leads until its session ends; the key
/// then disappears with it and the next attempt of another monitor wins.
///
/// A leader counts its leadership from the instant it *sent* its last successful keepalive: etcd
/// extends the lease from when it received it, later, so the leader always believes itself the
/// leader for less time than etcd keeps its key (less a margin for clock-rate drift). A leader cut
/// off from etcd's majority therefore steps down before any other monitor can win — a monitor alone
/// on an island never acts.
///
/// Every write a leader makes to the shared state is guarded by the leader key's creation revision
/// (`term`), so a deposed leader whose step-down is late still cannot write.
public actor EtcdLeadership {
    /// A term of leadership: the session's lease and the leader key's creation revision.
    public struct Term: Sendable, Equatable {
        public var lease: Int64
        public var revision: Int64
    }

    /// Who leads, as etcd says: the monitor's id and the API address it advertised.
    public struct Leader: Codable, Sendable, Equatable {
        public var monitor: String
        public var api: String
        public init(monitor: String, api: String) {
            self.monitor = monitor
            self.api = api
        }
    }

    public nonisolated let key: String
    public nonisolated let me: Leader
    let client: EtcdClient
    let ttl: Duration
    let logger: Logger
    /// How much faster this machine's clock may run than etcd's, as a fraction.
    static let drift = 0.01
    static let margin = Duration.milliseconds(100)

    public private(set) var term: Term?
    /// The leader etcd named at the last attempt (nil: none, or unknown).
    public private(set) var leader: Leader?
    private var session: Int64?
    private var validUntil: ContinuousClock.Instant?
    /// After a resignation: no campaign before this instant, so another monitor gets its turn.
    private var campaignAfter: ContinuousClock.Instant?

    public init(client: EtcdClient, cluster: String, monitor: String, api: String, ttlSeconds: Int, logger: Logger) {
        self.client = client
        self.key = "/lifeboat/\(cluster)/leader"
        self.me = Leader(monitor: monitor, api: api)
        self.ttl = .seconds(ttlSeconds)
        self.logger = logger
    }

    /// True while this monitor holds a term it can still count on.
    public func leads(now: ContinuousClock.Instant = .now) -> Bool {
        guard term != nil, let validUntil else { return false }
        return now < validUntil
    }

    /// The term to guard a write with, or nil when this monitor does not lead now.
    public func currentTerm() -> Term? { leads() ? term : nil }

    /// Campaigns and keeps the leadership until cancelled; `changed` is called with each new term
    /// and with nil when a term ends (always before another monitor can have won). On cancellation
    /// the session is revoked, so another monitor takes over at once.
    public func run(changed: @escaping @Sendable (Term?) async -> Void) async {
        let step = ttl / 3
        while !Task.isCancelled {
            let started = ContinuousClock.now
            if term != nil {
                await keepLeading(changed: changed)
            } else if campaignAfter.map({ started >= $0 }) ?? true {
                if await campaign() { await changed(term) }
            }
            let next = started.advanced(by: term != nil ? step : min(step, .milliseconds(250)))
            let wake = term != nil ? min(next, (validUntil ?? next).advanced(by: .zero - Self.margin)) : next
            try? await Task.sleep(until: wake, clock: .continuous)
        }
        if term != nil {
            term = nil
            await changed(nil)
        }
        if let session {
            // A task of its own: this one is cancelled, and the revocation must still go out.
            let client = self.client
            await Task { try? await client.revoke(session, timeout: .milliseconds(500)) }.value
            self.session = nil
        }
    }

    /// Gives up a term at once (the leader's engine failed): the session is revoked so another
    /// monitor can lead; this one campaigns again later.
    public func resign(changed: @escaping @Sendable (Term?) async -> Void) async {
        guard term != nil else { return }
        term = nil
        validUntil = nil
        campaignAfter = ContinuousClock.now.advanced(by: ttl * 2)
        await changed(nil)
        if let session { try? await client.revoke(session, timeout: .milliseconds(500)) }
        session = nil
    }

    private func campaign() async -> Bool {
        do {
            if session == nil {
                let sent = ContinuousClock.now
                session = try await client.grantLease(ttlSeconds: Int(ttl.components.seconds))
                validUntil = Self.until(sent: sent, ttl: ttl)
            }
            guard let session else { return false }
            let value = try JSONEncoder().encode(me)
            let sent = ContinuousClock.now
            let result = try await client.txn(if: [.created(key, revision: 0)], then: [.put(key, value, lease: session)], else: [.get(key)])
            if result.succeeded {
                // Leadership counts from a keepalive sent before the key was created, so it can
                // never be believed longer than etcd keeps the key.
                guard let granted = try await client.keepAlive(session, timeout: ttl / 3) else {
                    self.session = nil
                    return false
                }
                validUntil = Self.until(sent: sent, ttl: .seconds(granted))
                term = Term(lease: session, revision: result.revision)
                leader = me
                logger.notice("this monitor leads", metadata: ["etcd.term": "\(result.revision)"])
                return true
            }
            let current = result.gets.first.flatMap { $0 }
            let named = current.flatMap { try? JSONDecoder().decode(Leader.self, from: $0.value) }
            if named != leader { logger.info("the leading monitor is \(named?.monitor ?? "none")") }
            leader = named
            // Keep the session alive while following, so a win needs no new grant.
            if try await client.keepAlive(session, timeout: ttl / 3) == nil { self.session = nil }
        } catch {
            if leader != nil { logger.warning("etcd unreachable: \(error)") }
            leader = nil
        }
        return false
    }

    private func keepLeading(changed: @escaping @Sendable (Term?) async -> Void) async {
        guard let session, let validUntil else { return }
        let sent = ContinuousClock.now
        let budget = min(ttl / 3, sent.duration(to: validUntil))
        enum Renewal { case renewed(Int64), ended, noAnswer }
        var renewal = Renewal.noAnswer
        if budget > .zero {
            do {
                let ttl = try await withDeadline(budget, clock: ContinuousClock()) { [client] in try await client.keepAlive(session, timeout: budget) }
                renewal = ttl.map { .renewed($0) } ?? .ended
            } catch {
                renewal = .noAnswer
            }
        }
        switch renewal {
        case .renewed(let ttl) where ContinuousClock.now < validUntil:
            self.validUntil = Self.until(sent: sent, ttl: .seconds(ttl))
        case .ended:
            await stepDown(changed: changed, because: "its etcd session ended")
        case .renewed, .noAnswer:
            if ContinuousClock.now >= validUntil.advanced(by: .zero - Self.margin) {
                await stepDown(changed: changed, because: "etcd did not confirm its session in time")
            }
        }
    }

    private func stepDown(changed: @escaping @Sendable (Term?) async -> Void, because why: String) async {
        logger.warning("this monitor no longer leads: \(why)")
        term = nil
        leader = nil
        validUntil = nil
        session = nil
        await changed(nil)
    }

    static func until(sent: ContinuousClock.Instant, ttl: Duration) -> ContinuousClock.Instant {
        sent.advanced(by: ttl * (1 - drift) - margin)
    }
}
