/// A request from a node's agent about the primary's lease.
public enum LeaseRequest: Sendable, Equatable {
    /// Renew: sent by the primary's agent while its PostgreSQL accepts writes.
    case renew(node: String)
    /// Give the lease up at once: the agent found its PostgreSQL down (or fenced), so a standby may
    /// be promoted without waiting for the lease to run out.
    case release(node: String)
}

/// The monitor's answer to a lease request.
public enum LeaseAnswer: Sendable, Equatable {
    /// Held for `ttl` from when the agent sent its request, under `epoch`.
    case granted(epoch: Epoch, ttl: Duration)
    case released
    case refused(LeaseRefusal)
}

public enum LeaseRefusal: Sendable, Equatable, CustomStringConvertible {
    /// No lease is configured (`failover.lease_ttl`).
    case notInUse
    /// The requester is not the primary this monitor watches (a former primary, a standby).
    case notThePrimary(node: String, primary: String?)
    /// A failover away from the requester is under way: its lease is not renewed again.
    case failoverRunning(node: String)

    public var description: String {
        switch self {
        case .notInUse: return "no primary lease is configured on the monitor (failover.lease_ttl)"
        case .notThePrimary(let node, let primary?): return "\(node) is not the primary; \(primary) is"
        case .notThePrimary(let node, nil): return "\(node) is not the primary; no primary is identified yet"
        case .failoverRunning(let node): return "a failover away from \(node) is under way; its lease is not renewed"
        }
    }
}

/// The primary's lease as the monitor granted it, measured on the monitor's clock: from when a
/// renewal *arrived*, which is after the agent sent it, so the monitor's view of the expiry is
/// never earlier than the agent's own.
public struct PrimaryLease<Instant: InstantProtocol & Sendable>: Sendable, Equatable {
    public var holder: String
    public var epoch: Epoch
    public var renewedAt: Instant
    public var expiresAt: Instant
    /// The holder gave it up (its PostgreSQL is down).
    public var released: Bool
}

/// What the lease says about the primary, for corroboration and for the promotion gate.
public enum LeaseView<Instant: InstantProtocol & Sendable>: Sendable, Equatable {
    /// No lease configured, or the primary's agent never renewed one under this monitor.
    case notInUse
    /// Held and renewed: the primary's agent is alive and its PostgreSQL accepts writes.
    case valid(until: Instant, renewedAt: Instant)
    /// Not renewed for the whole TTL: the primary has fenced itself (or lost every path).
    case expired(at: Instant)
    /// Given up by its holder: its PostgreSQL is down.
    case released
    /// The monitor (re)started less than a TTL ago: a lease it does not know of may still be held.
    case unknown(until: Instant)
}
