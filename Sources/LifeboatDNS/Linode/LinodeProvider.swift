import LifeboatCore
import LifeboatPorts

/// A record in Linode's DNS Manager. Linode has no conditional update, so the compare-and-swap
/// is read-compare-write: the record is read right before the PUT and the PUT's answer is checked.
public struct LinodeProvider: DNSProvider {
    public var client: LinodeDomainsClient
    public var zone: String
    /// Relative to the zone (`app`; empty for the apex), as Linode names records.
    public var relativeName: String

    public init(client: LinodeDomainsClient, zone: String, relativeName: String) {
        self.client = client
        self.zone = zone
        self.relativeName = relativeName
    }

    public var name: String { "Linode DNS (\(client.baseURL))" }
    public var record: String { (relativeName.isEmpty ? zone : "\(relativeName).\(zone)") + "." }

    public func currentTargets() async throws -> (targets: [IPv4], ttl: Int?) {
        let records = try await currentRecords()
        return (records.compactMap { IPv4($0.target) }.sorted(), records.first?.ttlSec)
    }

    public func replaceTargets(expected: [IPv4], with targets: [IPv4], ttl: Int) async throws -> Int {
        let domain = try await client.domain(named: zone)
        let records = try await client.aRecords(domainID: domain.id, name: relativeName).sorted { $0.target < $1.target }
        let found = records.compactMap { IPv4($0.target) }.sorted()
        guard found == expected else {
            throw LinodeAPIError.recordChanged(record: record, found: found.map(\.description), expected: expected.map(\.description))
        }
        guard records.count == targets.count else {
            throw LinodeAPIError.recordCountMismatch(record: record, records: records.count, targets: targets.count)
        }
        for (existing, target) in zip(records, targets.sorted()) {
            let updated = try await client.update(domainID: domain.id, recordID: existing.id, target: target.description, ttl: ttl)
            guard updated.ttlSec == ttl else { throw LinodeAPIError.ttlNotApplied(sent: ttl, stored: updated.ttlSec) }
            guard updated.target == target.description else {
                throw LinodeAPIError.unexpectedBody("record \(existing.id) holds \(updated.target) after the update, not \(target)")
            }
        }
        return ttl
    }

    private func currentRecords() async throws -> [LinodeDomainRecord] {
        let domain = try await client.domain(named: zone)
        let records = try await client.aRecords(domainID: domain.id, name: relativeName)
        guard !records.isEmpty else { throw LinodeAPIError.recordNotFound(name: relativeName, domain: zone) }
        return records
    }
}
