import Crypto
import Foundation
import Synchronization

/// How the monitor signs its requests to an agent, and how the agent checks them.
///
/// The signature is HMAC-SHA256, keyed with the shared agent key, over
/// `METHOD\nPATH\nNODE\nEPOCH\nTIMESTAMP\nNONCE\nhex(SHA256(body))`, sent as
/// `X-Lifeboat-Signature: v2=<hex>` with `X-Lifeboat-Node` (the node the request is meant for),
/// `X-Lifeboat-Epoch` (the epoch the monitor acts under), `X-Lifeboat-Timestamp` (Unix seconds) and
/// `X-Lifeboat-Nonce` (16+ random bytes, hex). An agent accepts a request once, within ±`window`
/// of its clock, and only when it names this agent's node: a request captured on its way to one
/// node cannot be replayed to another, though every agent shares the key.
public enum AgentSigning {
    public static let nodeHeader = "X-Lifeboat-Node"
    public static let epochHeader = "X-Lifeboat-Epoch"
    public static let timestampHeader = "X-Lifeboat-Timestamp"
    public static let nonceHeader = "X-Lifeboat-Nonce"
    public static let signatureHeader = "X-Lifeboat-Signature"

    public static func signature(key: SymmetricKey, method: String, path: String, node: String, epoch: UInt64, timestamp: Int64, nonce: String,
                                 body: [UInt8]) -> String {
        let bodyHash = SHA256.hash(data: body).hex
        let message = "\(method.uppercased())\n\(path)\n\(node)\n\(epoch)\n\(timestamp)\n\(nonce)\n\(bodyHash)"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)
        return "v2=" + Data(mac).hex
    }

    /// Headers for a request to `node` under `epoch`, with a fresh nonce.
    public static func headers(key: SymmetricKey, method: String, path: String, node: String, epoch: UInt64, body: [UInt8],
                               now: Date = Date()) -> [(String, String)] {
        let timestamp = Int64(now.timeIntervalSince1970)
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }.hex
        return [
            (nodeHeader, node),
            (epochHeader, String(epoch)),
            (timestampHeader, String(timestamp)),
            (nonceHeader, nonce),
            (signatureHeader, signature(key: key, method: method, path: path, node: node, epoch: epoch, timestamp: timestamp, nonce: nonce, body: body)),
        ]
    }

    public static func key(_ secret: String) -> SymmetricKey { SymmetricKey(data: Array(secret.utf8)) }
}

/// Why a request was refused (a metrics label and the 401 body; never the expected signature).
public enum AuthFailure: String, Error, Sendable, CaseIterable {
    case unsigned = "unsigned"
    case malformed = "malformed"
    case badSignature = "bad_signature"
    case stale = "stale_timestamp"
    case replayed = "replayed_nonce"
    case wrongNode = "wrong_node"
    case oldVersion = "old_signature_version"

    public var message: String {
        switch self {
        case .unsigned: "the request is not signed (X-Lifeboat-Node, X-Lifeboat-Epoch, X-Lifeboat-Timestamp, X-Lifeboat-Nonce and X-Lifeboat-Signature are required)"
        case .malformed: "the signature headers are malformed"
        case .badSignature: "the signature does not match (wrong key, or the request was altered)"
        case .stale: "the timestamp is too far from this agent's clock (check NTP on both machines)"
        case .replayed: "this nonce was already used"
        case .wrongNode: "the request is signed for another node"
        case .oldVersion: "v1 signatures are no longer accepted: upgrade the monitor to the agent's version"
        }
    }
}

/// A request whose signature checked out: what it was signed for.
public struct VerifiedRequest: Sendable, Equatable {
    public var node: String
    public var epoch: UInt64

    public init(node: String, epoch: UInt64) {
        self.node = node
        self.epoch = epoch
    }
}

/// Checks signatures and remembers every nonce it accepted until its timestamp leaves the window,
/// so a captured request cannot be replayed.
public final class RequestVerifier: Sendable {
    private let keyBytes: [UInt8]
    public let window: Duration
    private let seen = Mutex<[String: Int64]>([:])
    /// A bound on remembered nonces; beyond it the oldest are dropped (their timestamps are then
    /// refused as stale anyway, because the window is checked against the oldest kept).
    private let capacity: Int
    private let oldestAccepted = Mutex<Int64>(0)

    public init(key: SymmetricKey, window: Duration = .seconds(30), capacity: Int = 100_000) {
        self.keyBytes = key.withUnsafeBytes { Array($0) }
        self.window = window
        self.capacity = capacity
    }

    /// Checks a request meant for `node` (an agent's own name), or, with `node` nil, from whichever
    /// node it names (an agent's request to the monitor: the caller checks the node). Returns what it
    /// was signed for, or why it is refused; nothing is remembered for a refused request.
    public func verify(method: String, path: String, node expectedNode: String?, headers: (String) -> String?, body: [UInt8],
                       now: Date = Date()) -> Result<VerifiedRequest, AuthFailure> {
        guard let signature = headers(AgentSigning.signatureHeader) else { return .failure(.unsigned) }
        if signature.hasPrefix("v1=") { return .failure(.oldVersion) }
        guard let node = headers(AgentSigning.nodeHeader), let epochText = headers(AgentSigning.epochHeader),
              let timestamp = headers(AgentSigning.timestampHeader), let nonce = headers(AgentSigning.nonceHeader) else { return .failure(.unsigned) }
        guard let ts = Int64(timestamp), let epoch = UInt64(epochText), (16...128).contains(nonce.count), nonce.allSatisfy(\.isHexDigit),
              signature.hasPrefix("v2="), node.utf8.count <= 255 else {
            return .failure(.malformed)
        }
        let expected = AgentSigning.signature(key: SymmetricKey(data: keyBytes), method: method, path: path, node: node, epoch: epoch,
                                              timestamp: ts, nonce: nonce, body: body)
        // Constant time: compare MACs, not strings.
        guard let given = Data(hex: String(signature.dropFirst(3))), let wanted = Data(hex: String(expected.dropFirst(3))),
              given.count == wanted.count, zip(given, wanted).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            return .failure(.badSignature)
        }
        // Signed by the monitor, but for another node: a captured request replayed elsewhere.
        if let expectedNode, node != expectedNode { return .failure(.wrongNode) }
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let windowSeconds = window.components.seconds
        guard abs(nowSeconds - ts) <= windowSeconds else { return .failure(.stale) }
        let failure = seen.withLock { seen -> AuthFailure? in
            if seen[nonce] != nil { return .replayed }
            if ts < oldestAccepted.withLock({ $0 }) { return .stale }
            seen = seen.filter { nowSeconds - $0.value <= windowSeconds }
            if seen.count >= capacity, let oldest = seen.min(by: { $0.value < $1.value }) {
                seen[oldest.key] = nil
                oldestAccepted.withLock { $0 = max($0, oldest.value + 1) }
            }
            seen[nonce] = ts
            return nil
        }
        if let failure { return .failure(failure) }
        return .success(VerifiedRequest(node: node, epoch: epoch))
    }
}

extension Sequence where Element == UInt8 {
    package var hex: String { map { String(format: "%02x", $0) }.joined() }
}

extension Digest {
    package var hex: String { Array(self).hex }
}

extension Data {
    package init?(hex: String) {
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
