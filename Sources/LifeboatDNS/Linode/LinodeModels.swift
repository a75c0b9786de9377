/// Linode API v4 objects, with the field names of Linode's published OpenAPI document.
public struct LinodeDomain: Codable, Sendable, Equatable {
    public var id: Int
    public var domain: String
}

public struct LinodeDomainRecord: Codable, Sendable, Equatable {
    public var id: Int
    public var type: String
    public var name: String
    public var target: String
    public var ttlSec: Int

    enum CodingKeys: String, CodingKey {
        case id, type, name, target
        case ttlSec = "ttl_sec"
    }
}

/// Every collection comes wrapped in this envelope (`PaginationEnvelope`).
struct LinodePage<Item: Decodable>: Decodable {
    var data: [Item]
    var page: Int
    var pages: Int
    var results: Int
}

/// The error envelope: `{"errors": [{"reason": "...", "field": "..."}]}` (`ErrorObject`).
struct LinodeErrorEnvelope: Decodable {
    struct Item: Decodable {
        var reason: String
        var field: String?
    }
    var errors: [Item]
}

/// The body of `PUT /domains/{domainId}/records/{recordId}`: only what changes.
struct LinodeRecordUpdate: Encodable {
    var target: String
    var ttlSec: Int

    enum CodingKeys: String, CodingKey {
        case target
        case ttlSec = "ttl_sec"
    }
}

public enum LinodeAPIError: Error, Equatable, CustomStringConvertible {
    /// Linode refused the request; `reasons` are its `errors[]` as `field: reason`.
    case rejected(status: Int, reasons: [String])
    case retriesExhausted(attempts: Int, last: String)
    case unexpectedBody(String)
    case domainNotFound(String)
    case recordNotFound(name: String, domain: String)
    case recordChanged(record: String, found: [String], expected: [String])
    case recordCountMismatch(record: String, records: Int, targets: Int)
    case ttlNotApplied(sent: Int, stored: Int)

    public var description: String {
        switch self {
        case .rejected(let status, let reasons):
            let hint: String = switch status {
            case 401: " (the token is wrong or expired)"
            case 403: " (the token lacks the scope: domains:read_write for DNS, linodes:read_write for fencing, nodebalancers:read_write for a NodeBalancer)"
            default: ""
            }
            return "Linode answered \(status)\(hint): \(reasons.joined(separator: "; "))"
        case .retriesExhausted(let attempts, let last):
            return "Linode did not succeed after \(attempts) attempts (last: \(last))"
        case .unexpectedBody(let what):
            return "Linode's answer was not understood: \(what)"
        case .domainNotFound(let name):
            return "no Domain named \(name) in this Linode account (Linode DNS Manager)"
        case .recordNotFound(let name, let domain):
            return "no A record named '\(name)' in Domain \(domain)"
        case .recordChanged(let record, let found, let expected):
            return "\(record) holds \(found.joined(separator: ", ")), not \(expected.joined(separator: ", ")): someone else changed it; not updated (compare-and-swap)"
        case .recordCountMismatch(let record, let records, let targets):
            return "\(record) has \(records) A records on Linode but \(targets) targets are configured; Lifeboat updates records in place and needs the same number"
        case .ttlNotApplied(let sent, let stored):
            return "Linode stored ttl_sec \(stored) instead of \(sent)"
        }
    }
}
