import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// The few calls of etcd v3's JSON gateway (`/v3/kv/range`, `/v3/kv/txn`) a store needs. Keys and
/// values travel base64-encoded; etcd's int64 fields arrive as JSON strings. Tried on each endpoint
/// in turn until one answers.
///
/// The endpoint that answered last is tried first. A refused connection fails at once (no
/// retrying until the deadline, as a pooled client would), so a dead member costs little.
public struct EtcdClient: Sendable {
    public let endpoints: [String]
    let http: HTTPClient
    let timeout: Duration
    private let preferred = Preferred()

    final class Preferred: Sendable {
        let index = Mutex(0)
    }

    /// One client for every EtcdClient of the process: connections kept alive, no retry of a
    /// refused connection.
    static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .milliseconds(500)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(endpoints: [String], http: HTTPClient? = nil, timeout: Duration = .seconds(2)) {
        self.endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.http = http ?? Self.sharedHTTP
        self.timeout = timeout
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// A key's value and its revision (`modRevision` 0: the key does not exist).
    public struct Entry: Sendable, Equatable {
        public var value: Data
        public var modRevision: Int64
        public var createRevision: Int64 = 0
    }

    public func get(_ key: String) async throws -> Entry? {
        let answer = try await call("/v3/kv/range", ["key": Self.b64(key)])
        return try Self.entries(answer, what: key).first
    }

    /// Puts `value` at `key` only if the key's modification revision is still `modRevision` (0: the
    /// key must not exist). False when another writer got there first.
    public func putIf(_ key: String, modRevision: Int64, value: Data) async throws -> Bool {
        let compare: [String: Any] = modRevision == 0
            ? ["key": Self.b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"]
            : ["key": Self.b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": String(modRevision)]
        let answer = try await call("/v3/kv/txn", [
            "compare": [compare],
            "success": [["requestPut": ["key": Self.b64(key), "value": value.base64EncodedString()]]],
        ])
        // A transaction whose comparison failed has no "succeeded" field at all.
        return answer["succeeded"] as? Bool == true
    }

    // MARK: - Leases (etcd's own, for a monitor's leadership)

    /// Grants an etcd lease of `ttlSeconds` (etcd's minimum is 2 s with its default timing): its id.
    public func grantLease(ttlSeconds: Int) async throws -> Int64 {
        let answer = try await call("/v3/lease/grant", ["TTL": String(ttlSeconds)])
        guard let id = Self.int64(answer["ID"]), id != 0 else {
            throw Failure(description: "etcd granted no lease: \(answer["error"] ?? "no ID in the answer")")
        }
        return id
    }

    /// Renews a lease once: the TTL etcd now counts from, or nil when the lease no longer exists
    /// (expired or revoked) — whoever held it lost what it guarded.
    public func keepAlive(_ lease: Int64, timeout: Duration? = nil) async throws -> Int64? {
        let answer = try await call("/v3/lease/keepalive", ["ID": String(lease)], timeout: timeout)
        // The gateway streams {"result": {...}}; one request body gives one result.
        guard let result = answer["result"] as? [String: Any] else {
            throw Failure(description: "etcd answered a keepalive without a result")
        }
        guard let ttl = Self.int64(result["TTL"]), ttl > 0 else { return nil }
        return ttl
    }

    /// Revokes a lease: every key attached to it is deleted at once.
    public func revoke(_ lease: Int64, timeout: Duration? = nil) async throws {
        _ = try await call("/v3/lease/revoke", ["ID": String(lease)], timeout: timeout)
    }

    /// `/v3/maintenance/status` of the first endpoint that answers: its member id and the raft
    /// leader's (so a drill can stop the leader member).
    public func memberStatus() async throws -> (member: String, leader: String) {
        let answer = try await call("/v3/maintenance/status", [:])
        guard let header = answer["header"] as? [String: Any], let member = header["member_id"].map({ "\($0)" }),
              let leader = answer["leader"].map({ "\($0)" }) else {
            throw Failure(description: "etcd answered a status without member and leader ids")
        }
        return (member, leader)
    }

    // MARK: - Transactions and ranges

    /// One comparison of a transaction, in the gateway's JSON.
    public enum Compare: Sendable {
        /// The key's creation revision equals `revision` (0: the key does not exist).
        case created(String, revision: Int64)
        /// The key's value equals `value`.
        case value(String, Data)
        /// The key's modification revision equals `revision`.
        case modified(String, revision: Int64)

        var json: [String: Any] {
            switch self {
            case .created(let key, let revision):
                return ["key": EtcdClient.b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": String(revision)]
            case .modified(let key, let revision):
                return ["key": EtcdClient.b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": String(revision)]
            case .value(let key, let value):
                return ["key": EtcdClient.b64(key), "target": "VALUE", "result": "EQUAL", "value": value.base64EncodedString()]
            }
        }
    }

    /// One operation of a transaction.
    public enum Operation: Sendable {
        case put(String, Data, lease: Int64?)
        /// Deletes the keys in [from, to).
        case deleteRange(from: String, to: String)
        case get(String)

        var json: [String: Any] {
            switch self {
            case .put(let key, let value, let lease):
                var put: [String: Any] = ["key": EtcdClient.b64(key), "value": value.base64EncodedString()]
                if let lease { put["lease"] = String(lease) }
                return ["requestPut": put]
            case .deleteRange(let from, let to):
                return ["requestDeleteRange": ["key": EtcdClient.b64(from), "range_end": EtcdClient.b64(to)]]
            case .get(let key):
                return ["requestRange": ["key": EtcdClient.b64(key)]]
            }
        }
    }

    /// A transaction's outcome: whether the comparisons held, the revision after it, and the
    /// entries of any `get` operations that ran (in order; nil for a missing key).
    public struct TxnResult: Sendable {
        public var succeeded: Bool
        public var revision: Int64
        public var gets: [Entry?]
    }

    public func txn(if compares: [Compare], then success: [Operation], else failure: [Operation] = []) async throws -> TxnResult {
        var body: [String: Any] = ["compare": compares.map(\.json), "success": success.map(\.json)]
        if !failure.isEmpty { body["failure"] = failure.map(\.json) }
        let answer = try await call("/v3/kv/txn", body)
        let header = answer["header"] as? [String: Any]
        var gets: [Entry?] = []
        for response in answer["responses"] as? [[String: Any]] ?? [] {
            guard let range = response["response_range"] as? [String: Any] else { continue }
            gets.append(try Self.entries(range, what: "a transaction's range").first)
        }
        return TxnResult(succeeded: answer["succeeded"] as? Bool == true, revision: Self.int64(header?["revision"]) ?? 0, gets: gets)
    }

    /// The keys in [from, to), in key order (or newest key first), at most `limit` (0: all).
    public func range(from: String, to: String, limit: Int = 0, descending: Bool = false) async throws -> [(key: String, entry: Entry)] {
        var body: [String: Any] = ["key": Self.b64(from), "range_end": Self.b64(to)]
        if limit > 0 { body["limit"] = String(limit) }
        if descending { body["sort_order"] = "DESCEND"; body["sort_target"] = "KEY" }
        let answer = try await call("/v3/kv/range", body)
        return try Self.keyed(answer, what: "a range")
    }

    static func entries(_ answer: [String: Any], what: String) throws -> [Entry] { try keyed(answer, what: what).map(\.entry) }

    static func keyed(_ answer: [String: Any], what: String) throws -> [(key: String, entry: Entry)] {
        try (answer["kvs"] as? [[String: Any]] ?? []).map { kv in
            guard let key = (kv["key"] as? String).flatMap({ Data(base64Encoded: $0) }).map({ String(decoding: $0, as: UTF8.self) }),
                  let value = (kv["value"] as? String).flatMap({ Data(base64Encoded: $0) }) ?? (kv["value"] == nil ? Data() : nil),
                  let revision = Self.int64(kv["mod_revision"]) else {
                throw Failure(description: "etcd answered an unreadable entry in \(what)")
            }
            return (key, Entry(value: value, modRevision: revision, createRevision: Self.int64(kv["create_revision"]) ?? 0))
        }
    }

    func call(_ path: String, _ body: [String: Any], timeout: Duration? = nil) async throws -> [String: Any] {
        let timeout = timeout ?? self.timeout
        let bytes = try JSONSerialization.data(withJSONObject: body)
        var problems: [String] = []
        let first = preferred.index.withLock { $0 } % max(1, endpoints.count)
        for offset in endpoints.indices {
            let index = (first + offset) % endpoints.count
            let endpoint = endpoints[index]
            var request = HTTPClientRequest(url: endpoint + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bytes))
            do {
                let response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
                let data = try await response.body.collect(upTo: 4 << 20)
                guard response.status.code == 200,
                      let object = try? JSONSerialization.jsonObject(with: Data(data.readableBytesView)) as? [String: Any] else {
                    problems.append("\(endpoint) answered \(response.status.code)")
                    continue
                }
                if index != first { preferred.index.withLock { $0 = index } }
                return object
            } catch {
                problems.append("\(endpoint): \(error)")
            }
        }
        throw Failure(description: "no etcd endpoint answered: \(problems.joined(separator: "; "))")
    }

    static func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func int64(_ value: Any?) -> Int64? {
        if let text = value as? String { return Int64(text) }
        if let number = value as? NSNumber { return number.int64Value }
        return nil
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
