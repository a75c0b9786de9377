import LifeboatCore

/// A DNS provider that holds the record clients resolve to reach the primary.
public protocol DNSProvider: Sendable {
    /// For messages: "RFC 2136 at 192.0.2.53:53", "Linode DNS".
    var name: String { get }
    /// The record's fully-qualified name.
    var record: String { get }
    /// The record's current A targets (sorted) and TTL, as the provider holds them.
    func currentTargets() async throws -> (targets: [IPv4], ttl: Int?)
    /// Replaces the targets only if the record still holds exactly `expected` (compare-and-swap).
    /// Returns the TTL the provider stored.
    func replaceTargets(expected: [IPv4], with targets: [IPv4], ttl: Int) async throws -> Int
}

/// Someone answering DNS queries for the record: an authoritative server of the zone.
public protocol DNSAnswerSource: Sendable {
    var name: String { get }
    func answer() async throws -> [IPv4]
}
