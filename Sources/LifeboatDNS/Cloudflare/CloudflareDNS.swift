import AsyncHTTPClient
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatPorts
import NIOCore
import NIOHTTP1

/// What went wrong talking to Cloudflare; never carries the token.
public enum CloudflareAPIError: Error, Equatable, CustomStringConvertible {
    /// An answer Lifeboat does not retry (400, 401, 403, 404, …) with Cloudflare's `errors` items.
    case rejected(status: Int, errors: [String])
    case retriesExhausted(attempts: Int, last: String)
    case unexpectedBody(String)
    case recordNotFound(record: String)
    /// The record changed between Lifeboat's read and its write (compare-and-swap refused).
    case recordChanged(record: String, found: [String], expected: [String])
    case recordCountMismatch(record: String, records: Int, targets: Int)
    /// A proxied record answers Cloudflare's own addresses, never the targets.
    case proxied(record: String)
    case locked(record: String)

    public var description: String {
        switch self {
        case .rejected(let status, let errors):
            let hint = status == 401 || status == 403
                ? " (the API token must be allowed Zone → DNS → Edit on this zone; check dns.cloudflare.token_env or token_file)" : ""
            return "Cloudflare refused the request (HTTP \(status)): \(errors.joined(separator: "; "))\(hint)"
        case .retriesExhausted(let attempts, let last):
            return "Cloudflare did not answer after \(attempts) attempts (last: \(last))"
        case .unexpectedBody(let detail):
            return "Cloudflare answered something Lifeboat cannot read: \(detail)"
        case .recordNotFound(let record):
            return "Cloudflare holds no A record named \(record) in this zone; create it (DNS only, not proxied) with the primary region's address"
        case .recordChanged(let record, let found, let expected):
            return "\(record) changed while Lifeboat was switching it: it holds \(found.joined(separator: ", ")), not \(expected.joined(separator: ", ")); nothing more was changed"
        case .recordCountMismatch(let record, let records, let targets):
            return "\(record) has \(records) A record(s) but the new region has \(targets) target(s); Lifeboat changes records in place, so make the counts equal"
        case .proxied(let record):
            return "\(record) is proxied through Cloudflare (orange cloud): resolvers get Cloudflare's addresses, not the targets. Lifeboat moves DNS-only records; turn the proxy off for it"
        case .locked(let record):
            return "\(record) is locked by Cloudflare (managed by Cloudflare) and cannot be changed"
        }
    }
}

/// A DNS record as Cloudflare's `dns-record` schema names its fields (the A-record subset).
public struct CloudflareRecord: Codable, Sendable, Equatable {
    public var id: String
    public var type: String
    public var name: String
    public var content: String
    public var ttl: Int
    public var proxied: Bool?
    public var locked: Bool?
}

struct CloudflareEnvelope<Result: Decodable>: Decodable {
    struct Message: Decodable {
        var code: Int
        var message: String
    }
    struct ResultInfo: Decodable {
        var page: Int?
        var perPage: Int?
        var count: Int?
        var totalCount: Int?
        enum CodingKeys: String, CodingKey {
            case page, count
            case perPage = "per_page"
            case totalCount = "total_count"
        }
    }
    var success: Bool
    var errors: [Message]
    var messages: [Message]
    var result: Result?
    var resultInfo: ResultInfo?
    enum CodingKeys: String, CodingKey {
        case success, errors, messages, result
        case resultInfo = "result_info"
    }
}

/// The DNS-records part of Cloudflare's API v4: list a name's A records, patch one. Retries 429
/// (honouring Retry-After), 408 and 5xx with exponential backoff and jitter; never other 4xx.
/// The token travels only in the Authorization header.
public struct CloudflareDNSClient: Sendable {
    public var baseURL: String
    public var zoneID: String
    private let token: Secret
    public var http: HTTPClient
    public var requestTimeout: Duration
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Records per page when listing (the document allows 5...50000).
    public var pageSize: Int

    public init(baseURL: String = "https://api.cloudflare.com/client/v4", zoneID: String, token: Secret, http: HTTPClient = .shared,
                requestTimeout: Duration = .seconds(10), maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(250),
                maxDelay: Duration = .seconds(10), pageSize: Int = 100) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.zoneID = zoneID
        self.token = token
        self.http = http
        self.requestTimeout = requestTimeout
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.pageSize = min(50000, max(5, pageSize))
    }

    /// `GET /zones/{zone}/dns_records?type=A&name=FQDN`, every page.
    public func aRecords(named name: String) async throws -> [CloudflareRecord] {
        var records: [CloudflareRecord] = []
        var page = 1
        while true {
            let query = ["type": "A", "name": name, "page": String(page), "per_page": String(pageSize)]
            let data = try await send(.GET, "/zones/\(zoneID)/dns_records", query: query, body: nil)
            let envelope: CloudflareEnvelope<[CloudflareRecord]>
            do { envelope = try JSONDecoder().decode(CloudflareEnvelope<[CloudflareRecord]>.self, from: data) } catch {
                throw CloudflareAPIError.unexpectedBody("list dns_records page \(page): \(error)")
            }
            let items = envelope.result ?? []
            records += items.filter { $0.type == "A" && $0.name.lowercased() == name.lowercased() }
            let total = envelope.resultInfo?.totalCount ?? records.count
            if items.isEmpty || page * pageSize >= total { return records }
            page += 1
        }
    }

    /// `PATCH /zones/{zone}/dns_records/{id}` with only `content` and `ttl`.
    public func patch(recordID: String, content: String, ttl: Int) async throws -> CloudflareRecord {
        let body = try JSONSerialization.data(withJSONObject: ["content": content, "ttl": ttl], options: [.sortedKeys])
        let data = try await send(.PATCH, "/zones/\(zoneID)/dns_records/\(recordID)", query: [:], body: body)
        do {
            guard let record = try JSONDecoder().decode(CloudflareEnvelope<CloudflareRecord>.self, from: data).result else {
                throw CloudflareAPIError.unexpectedBody("PATCH dns_records/\(recordID): no result")
            }
            return record
        } catch let error as CloudflareAPIError { throw error } catch {
            throw CloudflareAPIError.unexpectedBody("PATCH dns_records/\(recordID): \(error)")
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, query: [String: String], body: Data?) async throws -> Data {
        var url = baseURL + path
        if !query.isEmpty {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+")
            url += "?" + query.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.value)" }.joined(separator: "&")
        }
        return try await Retrying(maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: maxDelay).run({
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token.reveal())")
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "User-Agent", value: "lifeboat")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            do {
                let response = try await http.execute(request, timeout: .milliseconds(Int64(requestTimeout.components.seconds) * 1000
                                                                                      + requestTimeout.components.attoseconds / 1_000_000_000_000_000))
                let data = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return .success(data) }
                let errors = Self.errors(data)
                guard status == 429 || status == 408 || status >= 500 else {
                    throw CloudflareAPIError.rejected(status: status, errors: errors.isEmpty ? ["(no reason given)"] : errors)
                }
                // Never wait longer than maxDelay for one retry: the step's deadline bounds the whole switch anyway.
                let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                    .map { min(Duration.seconds($0), maxDelay) }
                return .retry("\(status)\(errors.isEmpty ? "" : " \(errors.joined(separator: "; "))")", after: retryAfter)
            } catch let error as CloudflareAPIError {
                throw error
            } catch {
                return .retry("\(error)", after: nil)
            }
        }, exhausted: { CloudflareAPIError.retriesExhausted(attempts: $0, last: $1) })
    }

    /// `errors` items of the envelope as "code: message".
    static func errors(_ data: Data) -> [String] {
        guard let envelope = try? JSONDecoder().decode(CloudflareEnvelope<EmptyResult>.self, from: data) else { return [] }
        return envelope.errors.map { "\($0.code): \(LogSafe.escape($0.message, maxLength: 200))" }
    }

    struct EmptyResult: Decodable {}
}

/// A record in a Cloudflare zone. Cloudflare has no conditional update, so the compare-and-swap
/// is read-compare-write: the records are read right before the PATCHes, each PATCH's answer is
/// checked, and the records are read back after.
public struct CloudflareProvider: DNSProvider {
    public var client: CloudflareDNSClient
    /// The record's fully-qualified name, without trailing dot (Cloudflare's `name`).
    public var fqdn: String

    public init(client: CloudflareDNSClient, record: String) {
        self.client = client
        self.fqdn = record.hasSuffix(".") ? String(record.dropLast()) : record
    }

    public var name: String { "Cloudflare DNS (zone \(client.zoneID))" }
    public var record: String { fqdn + "." }

    public func currentTargets() async throws -> (targets: [IPv4], ttl: Int?) {
        let records = try await client.aRecords(named: fqdn)
        guard !records.isEmpty else { throw CloudflareAPIError.recordNotFound(record: record) }
        return (records.compactMap { IPv4($0.content) }.sorted(), records.first?.ttl)
    }

    public func replaceTargets(expected: [IPv4], with targets: [IPv4], ttl: Int) async throws -> Int {
        let records = try await client.aRecords(named: fqdn).sorted { (IPv4($0.content) ?? IPv4(bytes: [0, 0, 0, 0])) < (IPv4($1.content) ?? IPv4(bytes: [0, 0, 0, 0])) }
        let found = records.compactMap { IPv4($0.content) }.sorted()
        guard found == expected else {
            throw CloudflareAPIError.recordChanged(record: record, found: found.map(\.description), expected: expected.map(\.description))
        }
        if records.contains(where: { $0.proxied == true }) { throw CloudflareAPIError.proxied(record: record) }
        if records.contains(where: { $0.locked == true }) { throw CloudflareAPIError.locked(record: record) }
        guard records.count == targets.count else {
            throw CloudflareAPIError.recordCountMismatch(record: record, records: records.count, targets: targets.count)
        }
        var stored = ttl
        for (existing, target) in zip(records, targets.sorted()) where existing.content != target.description || existing.ttl != ttl {
            let updated = try await client.patch(recordID: existing.id, content: target.description, ttl: ttl)
            guard updated.content == target.description else {
                throw CloudflareAPIError.unexpectedBody("record \(existing.id) holds \(updated.content) after the PATCH, not \(target)")
            }
            stored = updated.ttl
        }
        let after = try await client.aRecords(named: fqdn).compactMap { IPv4($0.content) }.sorted()
        guard after == targets.sorted() else {
            throw CloudflareAPIError.recordChanged(record: record, found: after.map(\.description), expected: targets.sorted().map(\.description))
        }
        return stored
    }
}
