import AsyncHTTPClient
import Foundation
import NIOCore

/// The few calls of etcd v3's JSON gateway (`/v3/kv/range`, `/v3/kv/txn`) a store needs. Keys and
/// values travel base64-encoded; etcd's int64 fields arrive as JSON strings. Tried on each endpoint
/// in turn until one answers.
public struct EtcdClient: Sendable {
    public let endpoints: [String]
    let http: HTTPClient
    let timeout: Duration

    public init(endpoints: [String], http: HTTPClient = .shared, timeout: Duration = .seconds(2)) {
        self.endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.http = http
        self.timeout = timeout
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// A key's value and its revision (`modRevision` 0: the key does not exist).
    public struct Entry: Sendable, Equatable {
        public var value: Data
        public var modRevision: Int64
    }

    public func get(_ key: String) async throws -> Entry? {
        let answer = try await call("/v3/kv/range", ["key": Self.b64(key)])
        guard let kvs = answer["kvs"] as? [[String: Any]], let kv = kvs.first else { return nil }
        guard let value = (kv["value"] as? String).flatMap({ Data(base64Encoded: $0) }) ?? (kv["value"] == nil ? Data() : nil),
              let revision = Self.int64(kv["mod_revision"]) else {
            throw Failure(description: "etcd answered an unreadable range for \(key)")
        }
        return Entry(value: value, modRevision: revision)
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

    private func call(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        let bytes = try JSONSerialization.data(withJSONObject: body)
        var problems: [String] = []
        for endpoint in endpoints {
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
