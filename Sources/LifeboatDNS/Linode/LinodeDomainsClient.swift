import AsyncHTTPClient
import Foundation
import LifeboatConfig
import NIOCore
import NIOHTTP1

/// The Domains part of Linode API v4: find a Domain, list its records, update one.
/// Retries 429 (honouring Retry-After), 408 and 5xx with exponential backoff and jitter;
/// never 400/401/403/404. The token is sent only in the Authorization header and never printed.
public struct LinodeDomainsClient: Sendable {
    public var baseURL: String
    private let token: Secret
    public var http: HTTPClient
    public var requestTimeout: Duration
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Records per page when listing (Linode accepts 25...500).
    public var pageSize: Int

    public init(baseURL: String = "https://api.linode.com/v4", token: Secret, http: HTTPClient = .shared,
                requestTimeout: Duration = .seconds(10), maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(250),
                maxDelay: Duration = .seconds(10), pageSize: Int = 500) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.http = http
        self.requestTimeout = requestTimeout
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.pageSize = min(500, max(25, pageSize))
    }

    /// `GET /domains` filtered by name (`X-Filter`), following pages.
    public func domain(named name: String) async throws -> LinodeDomain {
        let filter = try String(decoding: JSONEncoder().encode(["domain": name]), as: UTF8.self)
        let domains: [LinodeDomain] = try await list("/domains", filter: filter)
        guard let domain = domains.first(where: { $0.domain.lowercased() == name.lowercased() }) else {
            throw LinodeAPIError.domainNotFound(name)
        }
        return domain
    }

    /// `GET /domains/{domainId}/records`, every page, then the A records named `name`.
    public func aRecords(domainID: Int, name: String) async throws -> [LinodeDomainRecord] {
        let all: [LinodeDomainRecord] = try await list("/domains/\(domainID)/records", filter: nil)
        return all.filter { $0.type == "A" && $0.name.lowercased() == name.lowercased() }
    }

    /// `PUT /domains/{domainId}/records/{recordId}` with `target` and `ttl_sec`.
    public func update(domainID: Int, recordID: Int, target: String, ttl: Int) async throws -> LinodeDomainRecord {
        let body = try JSONEncoder().encode(LinodeRecordUpdate(target: target, ttlSec: ttl))
        let data = try await send(.PUT, "/domains/\(domainID)/records/\(recordID)", query: [:], filter: nil, body: body)
        do {
            return try JSONDecoder().decode(LinodeDomainRecord.self, from: data)
        } catch {
            throw LinodeAPIError.unexpectedBody("PUT record: \(error)")
        }
    }

    private func list<Item: Decodable>(_ path: String, filter: String?) async throws -> [Item] {
        var items: [Item] = []
        var page = 1
        while true {
            let data = try await send(.GET, path, query: ["page": String(page), "page_size": String(pageSize)], filter: filter, body: nil)
            let envelope: LinodePage<Item>
            do {
                envelope = try JSONDecoder().decode(LinodePage<Item>.self, from: data)
            } catch {
                throw LinodeAPIError.unexpectedBody("GET \(path) page \(page): \(error)")
            }
            items += envelope.data
            if envelope.page >= envelope.pages { return items }
            page = envelope.page + 1
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, query: [String: String], filter: String?, body: Data?) async throws -> Data {
        try await LinodeHTTP(baseURL: baseURL, token: token, http: http, requestTimeout: requestTimeout, maxAttempts: maxAttempts,
                             baseDelay: baseDelay, maxDelay: maxDelay).send(method, path, query: query, filter: filter, body: body)
    }

}

/// One Linode API v4 request with the token, retries and error envelope every client shares:
/// 429 (honouring Retry-After), 408 and 5xx are retried with exponential backoff and jitter;
/// 400/401/403/404 never are. The token goes only into the Authorization header.
struct LinodeHTTP: Sendable {
    var baseURL: String
    let token: Secret
    var http: HTTPClient
    var requestTimeout: Duration
    var maxAttempts: Int
    var baseDelay: Duration
    var maxDelay: Duration

    func send(_ method: HTTPMethod, _ path: String, query: [String: String], filter: String?, body: Data?) async throws -> Data {
        var url = baseURL + path
        if !query.isEmpty { url += "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&") }
        return try await Retrying(maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: maxDelay).run({
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token.reveal())")
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "User-Agent", value: "lifeboat")
            if let filter { request.headers.add(name: "X-Filter", value: filter) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            do {
                let response = try await http.execute(request, timeout: .nanoseconds(Int64(requestTimeout.components.seconds) * 1_000_000_000 + requestTimeout.components.attoseconds / 1_000_000_000))
                let bytes = try await response.body.collect(upTo: 16 << 20)
                let data = Data(bytes.readableBytesView)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return .success(data) }
                let reasons = Self.reasons(data)
                guard status == 429 || status == 408 || status >= 500 else {
                    throw LinodeAPIError.rejected(status: status, reasons: reasons.isEmpty ? ["(no reason given)"] : reasons)
                }
                let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { Duration.seconds($0) }
                return .retry("\(status)\(reasons.isEmpty ? "" : " \(reasons.joined(separator: "; "))")", after: retryAfter)
            } catch let error as LinodeAPIError {
                throw error
            } catch {
                return .retry("\(error)", after: nil)
            }
        }, exhausted: { LinodeAPIError.retriesExhausted(attempts: $0, last: $1) })
    }

    static func reasons(_ data: Data) -> [String] {
        guard let envelope = try? JSONDecoder().decode(LinodeErrorEnvelope.self, from: data) else { return [] }
        return envelope.errors.map { item in item.field.map { "\($0): \(item.reason)" } ?? item.reason }
    }
}
