import AsyncHTTPClient
import Crypto
import Foundation
import LifeboatCore
import NIOCore
import NIOSSL
import Synchronization

/// `POST /v1/lease/renew` and `/v1/lease/release` on the monitor, sent by a node's agent and
/// signed with the agents' key for that node (`AgentSigning`, the node header naming the sender).
public struct LeaseRequestBody: Codable, Sendable, AgentBody {
    public var node: String
    public init(node: String) { self.node = node }
    public static var fields: [String] { ["node"] }
}

/// Why the monitor refused a lease, on the wire.
public enum LeaseRefusalCode: String, Codable, Sendable {
    /// The monitor runs without a lease.
    case notInUse = "not_in_use"
    /// The requester is not the primary the monitor watches: another node is.
    case notThePrimary = "not_the_primary"
    /// The monitor has not identified a primary yet (it is starting): no lease, but no verdict either.
    case noPrimaryYet = "no_primary_yet"
    /// A failover away from the requester is under way.
    case failoverRunning = "failover_running"
}

/// Another node's agent, as the monitor names it in a lease grant (failsafe mode).
public struct FailsafePeer: Codable, Sendable, Equatable {
    public var node: String
    public var url: String
    public init(node: String, url: String) {
        self.node = node
        self.url = url
    }
}

/// `POST /v1/lease/status`: what the lease store says now, for an agent deciding whether to pull
/// files from a region or adopt an order's epoch.
public struct LeaseStatusResponse: Codable, Sendable, Equatable {
    public enum Lease: String, Codable, Sendable {
        /// Held and renewed by the primary's agent.
        case valid
        /// Not renewed for a whole TTL: the primary has fenced itself.
        case expired
        /// Given up: the primary's PostgreSQL is down.
        case released
        /// The monitor (re)started less than a TTL ago, or the primary's agent never renewed.
        case unknown
        /// No lease configured on the monitor.
        case notInUse = "not_in_use"
    }

    public var epoch: UInt64
    /// The primary the monitor watches (nil while discovering).
    public var primary: String?
    public var primaryRegion: String?
    public var lease: Lease
    /// A failover (or switchover) is under way: no region is a settled source.
    public var failoverRunning: Bool

    public init(epoch: UInt64, primary: String?, primaryRegion: String?, lease: Lease, failoverRunning: Bool) {
        self.epoch = epoch
        self.primary = primary
        self.primaryRegion = primaryRegion
        self.lease = lease
        self.failoverRunning = failoverRunning
    }

    enum CodingKeys: String, CodingKey {
        case epoch, primary, lease
        case primaryRegion = "primary_region", failoverRunning = "failover_running"
    }

    /// Files may be pulled from `region` under `epoch`: the store is at that epoch, names a primary
    /// there, no failover is running, and the primary's lease is held (or no lease is in use).
    public func confirmsSource(region: String, epoch: UInt64) -> Bool {
        guard self.epoch == epoch, primaryRegion == region, !failoverRunning else { return false }
        return lease == .valid || lease == .notInUse
    }
}

/// The monitor's answer.
public struct LeaseResponse: Codable, Sendable, Equatable {
    /// Failsafe mode: every other node's agent, which the primary's agent asks for promises while the
    /// monitor is unreachable. Nil: failsafe mode is off (or some node has no agent).
    public var failsafePeers: [FailsafePeer]?
    /// Renewed: held for `ttlMilliseconds` from when the request was sent.
    public var granted: Bool
    public var released: Bool
    public var epoch: UInt64?
    public var ttlMilliseconds: Int64?
    public var refusal: String?
    public var refusalCode: LeaseRefusalCode?

    public init(granted: Bool, released: Bool, epoch: UInt64?, ttlMilliseconds: Int64?, refusal: String?, refusalCode: LeaseRefusalCode? = nil) {
        self.refusalCode = refusalCode
        self.granted = granted
        self.released = released
        self.epoch = epoch
        self.ttlMilliseconds = ttlMilliseconds
        self.refusal = refusal
    }

    enum CodingKeys: String, CodingKey {
        case granted, released, epoch, refusal
        case ttlMilliseconds = "ttl_ms", refusalCode = "refusal_code", failsafePeers = "failsafe_peers"
    }
}

/// An agent's client of the monitor's lease routes. Each request goes out on a connection of its
/// own (no pool: a connection opened during a network fault must not delay the next request).
///
/// With several monitors each request goes to all of them at once; only the leading one gives a
/// lease answer (the others answer 503), and the first answer is taken.
public struct LeaseClient: Sendable {
    public let monitors: [String]
    public let node: String
    let keyBytes: [UInt8]
    /// For https:// monitors: the CA trusted and the certificate presented.
    let tls: TLSConfiguration?

    public init(monitor: String, node: String, key: String, tls: TLSConfiguration? = nil) {
        self.init(monitors: [monitor], node: node, key: key, tls: tls)
    }

    public init(monitors: [String], node: String, key: String, tls: TLSConfiguration? = nil) {
        self.monitors = monitors.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.node = node
        self.keyBytes = Array(key.utf8)
        self.tls = tls
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public func renew(epoch: UInt64, timeout: Duration) async throws -> LeaseResponse {
        try await call("/v1/lease/renew", epoch: epoch, timeout: timeout)
    }

    public func release(epoch: UInt64, timeout: Duration) async throws -> LeaseResponse {
        try await call("/v1/lease/release", epoch: epoch, timeout: timeout)
    }

    public func status(epoch: UInt64, timeout: Duration) async throws -> LeaseStatusResponse {
        try await call("/v1/lease/status", epoch: epoch, timeout: timeout)
    }

    private func call<Answer: Decodable & Sendable>(_ path: String, epoch: UInt64, timeout: Duration) async throws -> Answer {
        if monitors.count == 1 { return try await call(monitors[0], path, epoch: epoch, timeout: timeout) }
        return try await withThrowingTaskGroup(of: Answer?.self) { group in
            let problems = ProblemList()
            for monitor in monitors {
                group.addTask {
                    do { return try await call(monitor, path, epoch: epoch, timeout: timeout) } catch {
                        problems.add("\(error)")
                        return nil
                    }
                }
            }
            for try await answer in group {
                if let answer {
                    group.cancelAll()
                    return answer
                }
            }
            throw Failure(description: "no monitor gave a lease answer: \(problems.all.joined(separator: "; "))")
        }
    }

    final class ProblemList: Sendable {
        let list = Mutex<[String]>([])
        func add(_ problem: String) { list.withLock { $0.append(problem) } }
        var all: [String] { list.withLock { $0 } }
    }

    private func call<Answer: Decodable>(_ monitor: String, _ path: String, epoch: UInt64, timeout: Duration) async throws -> Answer {
        let body = Array(try JSONEncoder().encode(LeaseRequestBody(node: node)))
        var request = HTTPClientRequest(url: monitor + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "lifeboat-agent")
        for (name, value) in AgentSigning.headers(key: SymmetricKey(data: keyBytes), method: "POST", path: path, node: node, epoch: epoch, body: body) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(body)
        let http = HTTPClient.freshConnection(connect: timeout, read: timeout, tls: tls)
        defer { Task { try? await http.shutdown() } }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
        } catch {
            throw Failure(description: "monitor \(monitor) unreachable: \(error)")
        }
        let data = try await response.body.collect(upTo: 64 * 1024)
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(data.readableBytesView)) else {
            throw Failure(description: "monitor \(monitor) answered \(response.status.code) without a lease answer")
        }
        return answer
    }
}
