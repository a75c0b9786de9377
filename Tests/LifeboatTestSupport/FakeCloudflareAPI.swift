import Foundation
import Synchronization

/// A local stand-in for Cloudflare's API v4 DNS records, following Cloudflare's published OpenAPI
/// document (extract in Tests/LifeboatDNSTests/Fixtures): `/client/v4/zones/{zone}/dns_records`
/// (GET with `name`, `type`, `page`, `per_page` 5–50000) and `.../dns_records/{id}` (GET, PATCH),
/// Bearer API tokens, the `success`/`errors`/`messages`/`result` envelope with `result_info` on
/// lists, TTL 1 or 30–86400, read-only fields refused in a PATCH. Scripted faults: the answer past
/// Cloudflare's rate limit (HTTP 429, code 971, Retry-After), a status, a delay, and a change made by
/// "someone else" right after a given request.
public final class FakeCloudflareAPI: Sendable {
    public typealias Request = RecordedRequest

    public struct Record: Sendable, Equatable {
        public var id: String
        public var type: String
        public var name: String
        public var content: String
        public var ttl: Int
        public var proxied: Bool
        public var locked: Bool
    }

    public enum Fault: Sendable {
        case status(Int, code: Int = 10000, message: String = "Internal error")
        case delay(Duration)
        /// What Cloudflare answers past its rate limit: 429, code 971, Retry-After.
        case rateLimited(retryAfter: Int)
    }

    struct State {
        var records: [Record] = []
        var requests: [Request] = []
        var faults: [Fault] = []
        var nextID = 0
        /// Runs once, after the request with this (1-based) number has been answered.
        var afterRequest: (number: Int, change: @Sendable (inout [Record]) -> Void)?
    }

    public let token: String
    public let zoneID: String
    private let state = Mutex(State())
    private let box = ResponderBox()
    private let server: TestHTTPServer
    public var baseURL: String { "http://127.0.0.1:\(server.port)/client/v4" }

    public init(token: String, zoneID: String = "023e105f4ecef8ad9ca31a8372d0c353") async throws {
        self.token = token
        self.zoneID = zoneID
        let box = self.box
        server = try await TestHTTPServer { request in await box.respond(request) }
        box.responder = { [weak self] request in await self?.respond(to: request) ?? (503, [], Data()) }
    }

    public func stop() async { await server.stop() }

    @discardableResult
    public func addRecord(name: String, content: String, type: String = "A", ttl: Int = 60, proxied: Bool = false, locked: Bool = false) -> String {
        state.withLock { s in
            s.nextID += 1
            let id = String(format: "%032x", s.nextID)
            s.records.append(Record(id: id, type: type, name: name, content: content, ttl: ttl, proxied: proxied, locked: locked))
            return id
        }
    }

    public var records: [Record] { state.withLock { $0.records } }
    public var requests: [Request] { state.withLock { $0.requests } }
    public func inject(_ faults: Fault...) { state.withLock { $0.faults += faults } }
    /// Someone else edits the zone right after request number `number` is answered.
    public func change(afterRequest number: Int, _ change: @escaping @Sendable (inout [Record]) -> Void) {
        state.withLock { $0.afterRequest = (number, change) }
    }

    // MARK: Serving

    func respond(to request: Request) async -> (status: Int, headers: [(String, String)], body: Data) {
        let (fault, number): (Fault?, Int) = state.withLock { s in
            s.requests.append(request)
            return (s.faults.isEmpty ? nil : s.faults.removeFirst(), s.requests.count)
        }
        defer {
            state.withLock { s in
                if let after = s.afterRequest, after.number == number {
                    after.change(&s.records)
                    s.afterRequest = nil
                }
            }
        }
        switch fault {
        case .status(let status, let code, let message): return (status, [], Self.failure(code, message))
        case .rateLimited(let retryAfter):
            return (429, [("Retry-After", String(retryAfter))], Self.failure(971, "Please wait and consider throttling your request speed"))
        case .delay(let duration): try? await Task.sleep(for: duration)
        case nil: break
        }
        guard request.headers["authorization"] == "Bearer \(token)" else {
            return (403, [], Self.failure(10000, "Authentication error"))
        }
        let parts = request.path.split(separator: "/").map(String.init)
        guard parts.count >= 5, parts[0] == "client", parts[1] == "v4", parts[2] == "zones", parts[4] == "dns_records" else {
            return (404, [], Self.failure(7003, "No route for the URI"))
        }
        guard parts[3] == zoneID else { return (404, [], Self.failure(7003, "Could not route to /zones/\(parts[3]), perhaps your object identifier is invalid?")) }
        switch (request.method, parts.count) {
        case ("GET", 5):
            let page = Int(request.query["page"] ?? "1") ?? 0
            let perPage = Int(request.query["per_page"] ?? "100") ?? 0
            guard page >= 1, (5...50000).contains(perPage) else { return (400, [], Self.failure(1004, "DNS Validation Error: per_page must be 5 to 50000, page at least 1")) }
            let rows = records.filter { r in
                (request.query["name"].map { $0.lowercased() == r.name.lowercased() } ?? true) && (request.query["type"].map { $0 == r.type } ?? true)
            }
            let slice = Array(rows.dropFirst((page - 1) * perPage).prefix(perPage))
            let body: [String: Any] = ["success": true, "errors": [Any](), "messages": [Any](), "result": slice.map(json),
                                       "result_info": ["page": page, "per_page": perPage, "count": slice.count, "total_count": rows.count]]
            return (200, [], try! JSONSerialization.data(withJSONObject: body))
        case ("GET", 6):
            guard let record = records.first(where: { $0.id == parts[5] }) else { return (404, [], Self.failure(81044, "Record does not exist.")) }
            return (200, [], single(record))
        case ("PATCH", 6):
            guard let body = request.body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return (400, [], Self.failure(9207, "Request body is invalid."))
            }
            let readOnly = ["id", "created_on", "modified_on", "locked", "meta", "proxiable", "zone_id", "zone_name"]
            if let field = object.keys.sorted().first(where: readOnly.contains) {
                return (400, [], Self.failure(1004, "DNS Validation Error: \(field) is read-only"))
            }
            let known = ["content", "name", "proxied", "type", "comment", "tags", "ttl"]
            if let field = object.keys.sorted().first(where: { !known.contains($0) }) {
                return (400, [], Self.failure(1004, "DNS Validation Error: unknown field \(field)"))
            }
            if let ttl = object["ttl"] {
                guard let number = ttl as? Int, number == 1 || (30...86400).contains(number) else {
                    return (400, [], Self.failure(1004, "DNS Validation Error: ttl must be 1 or between 30 and 86400"))
                }
            }
            struct Refusal: Error { var message: String }
            let updated: Result<Record, Refusal> = state.withLock { s in
                guard let index = s.records.firstIndex(where: { $0.id == parts[5] }) else { return .failure(Refusal(message: "Record does not exist.")) }
                if s.records[index].locked { return .failure(Refusal(message: "This record is managed by Cloudflare and cannot be modified.")) }
                if let content = object["content"] {
                    guard let text = content as? String, s.records[index].type != "A" || Self.isIPv4(text) else {
                        return .failure(Refusal(message: "Content for A record is invalid. Must be a valid IPv4 address"))
                    }
                    s.records[index].content = text
                }
                if let ttl = object["ttl"] as? Int { s.records[index].ttl = ttl }
                if let proxied = object["proxied"] as? Bool { s.records[index].proxied = proxied }
                return .success(s.records[index])
            }
            switch updated {
            case .success(let record): return (200, [], single(record))
            case .failure(let refusal): return (400, [], Self.failure(81044, refusal.message))
            }
        default:
            return (405, [], Self.failure(10405, "Method not allowed for this route"))
        }
    }

    private func single(_ record: Record) -> Data {
        try! JSONSerialization.data(withJSONObject: ["success": true, "errors": [Any](), "messages": [Any](), "result": json(record)])
    }

    func json(_ r: Record) -> [String: Any] {
        ["id": r.id, "type": r.type, "name": r.name, "content": r.content, "ttl": r.ttl, "proxied": r.proxied, "proxiable": true,
         "locked": r.locked, "zone_id": zoneID, "zone_name": "example.com", "created_on": "2026-01-01T00:00:00.000000Z",
         "modified_on": "2026-01-01T00:00:00.000000Z", "meta": ["auto_added": false, "source": "primary"], "comment": NSNull(), "tags": [String]()]
    }

    static func failure(_ code: Int, _ message: String) -> Data {
        try! JSONSerialization.data(withJSONObject: ["success": false, "errors": [["code": code, "message": message]],
                                                     "messages": [Any](), "result": NSNull()])
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil && ($0 == "0" || !$0.hasPrefix("0")) }
    }
}
