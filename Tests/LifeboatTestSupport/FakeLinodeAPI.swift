import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A local stand-in for Linode's API v4 Domains, Instances (GET, shutdown) and NodeBalancer node (GET, PUT) endpoints, following Linode's published OpenAPI
/// document: the same paths under /v4, field names, pagination envelope (`page`, `page_size`
/// 25–500), `X-Filter` on filterable fields, the `{"errors":[{"reason","field"}]}` envelope,
/// Bearer tokens, and `ttl_sec` rounded to the nearest accepted value. Faults can be scripted:
/// 429 with Retry-After, 500, slow answers.
public final class FakeLinodeAPI: Sendable {
    public typealias Request = RecordedRequest

    public enum Fault: Sendable {
        case status(Int, retryAfter: Int? = nil, reason: String = "Please try again")
        case delay(Duration)
    }

    public struct Record: Sendable {
        public var id: Int
        public var type: String
        public var name: String
        public var target: String
        public var ttlSec: Int
    }

    public struct Instance: Sendable {
        public var id: Int
        public var label: String
        public var status: String
        /// When a shutdown started: `offline` once `shutdownTakes` has passed.
        var shutdownAt: ContinuousClock.Instant?
    }

    /// A NodeBalancer backend: `/nodebalancers/{nb}/configs/{config}/nodes/{id}`.
    public struct BalancerNode: Sendable {
        public var id: Int
        public var nodeBalancer: Int
        public var config: Int
        public var label: String
        public var address: String
        public var mode: String
    }

    struct State {
        var balancerNodes: [Int: BalancerNode] = [:]
        var instances: [Int: Instance] = [:]
        var shutdownTakes: Duration = .milliseconds(300)
        var domains: [(id: Int, domain: String)] = []
        var records: [Int: [Record]] = [:]
        var requests: [Request] = []
        var faults: [Fault] = []
        var nextID = 1000
    }

    public static let acceptedTTLs = [300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1_209_600, 2_419_200]

    public let token: String
    private let state = Mutex(State())
    private let box = ResponderBox()
    private let server: TestHTTPServer
    public var port: Int { server.port }
    public var baseURL: String { "http://127.0.0.1:\(port)/v4" }

    public init(token: String) async throws {
        self.token = token
        let box = self.box
        server = try await TestHTTPServer { request in await box.respond(request) }
        box.responder = { [weak self] request in await self?.respond(to: request) ?? (503, [], Data()) }
    }

    public func stop() async { await server.stop() }

    // MARK: Test set-up and inspection

    @discardableResult
    public func addDomain(_ name: String) -> Int {
        state.withLock { s in
            s.nextID += 1
            s.domains.append((s.nextID, name))
            s.records[s.nextID] = []
            return s.nextID
        }
    }

    @discardableResult
    public func addRecord(domain: Int, type: String = "A", name: String, target: String, ttlSec: Int = 300) -> Int {
        state.withLock { s in
            s.nextID += 1
            s.records[domain, default: []].append(Record(id: s.nextID, type: type, name: name, target: target, ttlSec: ttlSec))
            return s.nextID
        }
    }

    public func addInstance(_ id: Int, label: String, status: String = "running", shutdownTakes: Duration = .milliseconds(300)) {
        state.withLock { s in
            s.instances[id] = Instance(id: id, label: label, status: status)
            s.shutdownTakes = shutdownTakes
        }
    }

    /// The instance's status now (a shutdown in progress turns `offline` once it has taken its time).
    public func instanceStatus(_ id: Int) -> String? { state.withLock { s in Self.settle(&s, id)?.status } }

    private static func settle(_ s: inout State, _ id: Int) -> Instance? {
        guard var instance = s.instances[id] else { return nil }
        if let at = instance.shutdownAt, at.duration(to: .now) >= s.shutdownTakes { instance.status = "offline"; instance.shutdownAt = nil }
        s.instances[id] = instance
        return instance
    }

    public func addBalancerNode(_ id: Int, nodeBalancer: Int, config: Int, label: String, address: String, mode: String = "accept") {
        state.withLock { $0.balancerNodes[id] = BalancerNode(id: id, nodeBalancer: nodeBalancer, config: config, label: label, address: address, mode: mode) }
    }

    public func balancerNode(_ id: Int) -> BalancerNode? { state.withLock { $0.balancerNodes[id] } }

    public func records(domain: Int) -> [Record] { state.withLock { $0.records[domain] ?? [] } }
    public var requests: [Request] { state.withLock { $0.requests } }
    public func inject(_ faults: Fault...) { state.withLock { $0.faults += faults } }

    // MARK: Serving

    func respond(to request: Request) async -> (status: Int, headers: [(String, String)], body: Data) {
        let fault: Fault? = state.withLock { s in
            s.requests.append(request)
            return s.faults.isEmpty ? nil : s.faults.removeFirst()
        }
        switch fault {
        case .status(let code, let retryAfter, let reason):
            return (code, retryAfter.map { [("Retry-After", String($0))] } ?? [], Self.errors([(reason, nil)]))
        case .delay(let duration):
            try? await Task.sleep(for: duration)
        case nil:
            break
        }
        guard request.headers["authorization"] == "Bearer \(token)" else {
            return (401, [], Self.errors([("Invalid Token", nil)]))
        }
        let parts = request.path.split(separator: "/").map(String.init)
        switch (request.method, parts.count) {
        case ("GET", 4) where parts[0] == "v4" && parts[1] == "linode" && parts[2] == "instances":
            guard let id = Int(parts[3]), let instance = state.withLock({ Self.settle(&$0, id) }) else { return notFound() }
            let body: [String: Any] = ["id": instance.id, "label": instance.label, "status": instance.status, "region": "us-east",
                                       "type": "g6-standard-2", "image": "linode/debian12", "group": "", "tags": [String](),
                                       "ipv4": ["192.0.2.\(instance.id % 250)"], "hypervisor": "kvm",
                                       "created": "2026-01-01T00:00:00", "updated": "2026-01-01T00:00:00"]
            return (200, [], try! JSONSerialization.data(withJSONObject: body))
        case ("POST", 5) where parts[0] == "v4" && parts[1] == "linode" && parts[2] == "instances" && parts[4] == "shutdown":
            // The published operation has no request body.
            if let body = request.body, !body.isEmpty { return (400, [], Self.errors([("this operation takes no body", nil)])) }
            guard let id = Int(parts[3]) else { return notFound() }
            let known: Bool = state.withLock { s in
                guard var instance = Self.settle(&s, id) else { return false }
                if instance.status == "running" {
                    instance.status = "shutting_down"
                    instance.shutdownAt = .now
                }
                s.instances[id] = instance
                return true
            }
            return known ? (200, [], Data("{}".utf8)) : notFound()
        case ("GET", 7) where parts[0] == "v4" && parts[1] == "nodebalancers" && parts[3] == "configs" && parts[5] == "nodes":
            guard let node = balancerNode(parts) else { return notFound() }
            return (200, [], try! JSONSerialization.data(withJSONObject: Self.json(node)))
        case ("PUT", 7) where parts[0] == "v4" && parts[1] == "nodebalancers" && parts[3] == "configs" && parts[5] == "nodes":
            guard let node = balancerNode(parts) else { return notFound() }
            guard let body = request.body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return (400, [], Self.errors([("Invalid JSON", nil)]))
            }
            // The writable fields of NodeBalancerNode; readOnly ones (id, status, config_id, nodebalancer_id) are refused.
            let writable = ["address", "label", "weight", "mode"]
            if let unknown = object.keys.first(where: { !writable.contains($0) }) {
                return (400, [], Self.errors([("\(unknown) is not a valid field", unknown)]))
            }
            if let mode = object["mode"] {
                guard let text = mode as? String, ["accept", "reject", "drain", "backup"].contains(text) else {
                    return (400, [], Self.errors([("mode must be one of accept, reject, drain, backup", "mode")]))
                }
            }
            let updated: BalancerNode = state.withLock { s in
                if let mode = object["mode"] as? String { s.balancerNodes[node.id]?.mode = mode }
                if let label = object["label"] as? String { s.balancerNodes[node.id]?.label = label }
                return s.balancerNodes[node.id]!
            }
            return (200, [], try! JSONSerialization.data(withJSONObject: Self.json(updated)))
        case ("GET", 2) where parts == ["v4", "domains"]:
            let filter = Self.filter(request)
            let rows: [[String: Any]] = state.withLock { $0.domains }
                .filter { entry in filter["domain"].map { wanted in entry.domain == wanted as? String } ?? true }
                .map { ["id": $0.id, "domain": $0.domain, "type": "master", "status": "active", "soa_email": "admin@\($0.domain)",
                        "description": "", "group": "", "tags": [String](), "ttl_sec": 0, "retry_sec": 0, "expire_sec": 0,
                        "refresh_sec": 0, "master_ips": [String](), "axfr_ips": [String]()] }
            return page(rows, request)
        case ("GET", 4) where parts[0] == "v4" && parts[1] == "domains" && parts[3] == "records":
            guard let id = Int(parts[2]), let records = state.withLock({ $0.records[id] }) else { return notFound() }
            let filter = Self.filter(request)
            let rows = records.filter { r in
                (filter["name"].map { r.name == $0 as? String } ?? true) && (filter["type"].map { r.type == $0 as? String } ?? true)
            }.map(Self.json)
            return page(rows, request)
        case ("PUT", 5) where parts[0] == "v4" && parts[1] == "domains" && parts[3] == "records":
            guard let domainID = Int(parts[2]), let recordID = Int(parts[4]) else { return notFound() }
            guard let body = request.body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return (400, [], Self.errors([("Invalid JSON", nil)]))
            }
            let known = ["name", "target", "priority", "weight", "port", "service", "protocol", "ttl_sec", "tag"]
            if let unknown = object.keys.first(where: { !known.contains($0) }) {
                return (400, [], Self.errors([("\(unknown) is not a valid field", unknown)]))
            }
            if let ttl = object["ttl_sec"], !(ttl is Int) { return (400, [], Self.errors([("ttl_sec must be an integer", "ttl_sec")])) }
            if let target = object["target"], !(target is String) { return (400, [], Self.errors([("target must be a string", "target")])) }
            let updated: Record? = state.withLock { s in
                guard var list = s.records[domainID], let index = list.firstIndex(where: { $0.id == recordID }) else { return nil }
                if let target = object["target"] as? String { list[index].target = target }
                if let ttl = object["ttl_sec"] as? Int {
                    // Linode: "any other value will be rounded to the nearest valid value".
                    list[index].ttlSec = Self.acceptedTTLs.min { abs($0 - ttl) < abs($1 - ttl) }!
                }
                s.records[domainID] = list
                return list[index]
            }
            guard let updated else { return notFound() }
            return (200, [], try! JSONSerialization.data(withJSONObject: Self.json(updated)))
        default:
            return notFound()
        }
    }

    /// The node a `/v4/nodebalancers/{nb}/configs/{config}/nodes/{id}` path names, if it belongs there.
    private func balancerNode(_ parts: [String]) -> BalancerNode? {
        guard let nb = Int(parts[2]), let config = Int(parts[4]), let id = Int(parts[6]),
              let node = state.withLock({ $0.balancerNodes[id] }), node.nodeBalancer == nb, node.config == config else { return nil }
        return node
    }

    static func json(_ n: BalancerNode) -> [String: Any] {
        ["id": n.id, "address": n.address, "label": n.label, "status": "UP", "weight": 50, "mode": n.mode,
         "config_id": n.config, "nodebalancer_id": n.nodeBalancer]
    }

    private func notFound() -> (Int, [(String, String)], Data) { (404, [], Self.errors([("Not found", nil)])) }

    private func page(_ rows: [[String: Any]], _ request: Request) -> (Int, [(String, String)], Data) {
        let page = Int(request.query["page"] ?? "1") ?? 1
        let size = Int(request.query["page_size"] ?? "100") ?? 100
        guard (25...500).contains(size) else {
            return (400, [], Self.errors([("Must be a value between 25 and 500", "page_size")]))
        }
        let pages = max(1, (rows.count + size - 1) / size)
        let current = min(max(1, page), pages)
        let slice = Array(rows.dropFirst((current - 1) * size).prefix(size))
        let body: [String: Any] = ["data": slice, "page": current, "pages": pages, "results": rows.count]
        return (200, [], try! JSONSerialization.data(withJSONObject: body))
    }

    static func json(_ r: Record) -> [String: Any] {
        ["id": r.id, "type": r.type, "name": r.name, "target": r.target, "priority": 0, "weight": 0, "port": 0,
         "service": NSNull(), "protocol": NSNull(), "ttl_sec": r.ttlSec, "tag": NSNull(),
         "created": "2026-01-01T00:00:00", "updated": "2026-01-01T00:00:00"]
    }

    static func filter(_ request: Request) -> [String: Any] {
        guard let text = request.headers["x-filter"], let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }

    static func errors(_ items: [(String, String?)]) -> Data {
        let list = items.map { item -> [String: String] in
            var e = ["reason": item.0]
            if let field = item.1 { e["field"] = field }
            return e
        }
        return try! JSONSerialization.data(withJSONObject: ["errors": list])
    }
}

