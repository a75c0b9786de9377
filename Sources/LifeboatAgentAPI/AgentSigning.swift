import Crypto
import Foundation
import Synchronization

/// How the monitor signs its requests to an agent, and how the agent checks them.
///
/// The signature is HMAC-SHA256, keyed with the shared agent key, over
/// `METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(SHA256(body))`, sent as
/// `X-Lifeboat-Signature: v1=<hex>` with `X-Lifeboat-Timestamp` (Unix seconds) and
/// `X-Lifeboat-Nonce` (16+ random bytes, hex). A request is accepted once, within ±`window` of
/// the agent's clock.
public enum AgentSigning {
    public static let timestampHeader = "X-Lifeboat-Timestamp"
    public static let nonceHeader = "X-Lifeboat-Nonce"
    public static let signatureHeader = "X-Lifeboat-Signature"

    public static func signature(key: SymmetricKey, method: String, path: String, timestamp: Int64, nonce: String, body: [UInt8]) -> String {
        let bodyHash = SHA256.hash(data: body).hex
        let message = "\(method.uppercased())\n\(path)\n\(timestamp)\n\(nonce)\n\(bodyHash)"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)
        return "v1=" + Data(mac).hex
    }

    /// Headers for a signed request, with a fresh nonce.
    public static func headers(key: SymmetricKey, method: String, path: String, body: [UInt8], now: Date = Date()) -> [(String, String)] {
        let timestamp = Int64(now.timeIntervalSince1970)
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }.hex
        return [
            (timestampHeader, String(timestamp)),
            (nonceHeader, nonce),
            (signatureHeader, signature(key: key, method: method, path: path, timestamp: timestamp, nonce: nonce, body: body)),
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

    public var message: String {
        switch self {
        case .unsigned: "the request is not signed (X-Lifeboat-Timestamp, X-Lifeboat-Nonce and X-Lifeboat-Signature are required)"
        case .malformed: "the signature headers are malformed"
        case .badSignature: "the signature does not match (wrong key, or the request was altered)"
        case .stale: "the timestamp is too far from this agent's clock (check NTP on both machines)"
        case .replayed: "this nonce was already used"
        }
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

    public func verify(method: String, path: String, timestamp: String?, nonce: String?, signature: String?, body: [UInt8],
                       now: Date = Date()) -> AuthFailure? {
        guard let timestamp, let nonce, let signature else { return .unsigned }
        guard let ts = Int64(timestamp), (16...128).contains(nonce.count), nonce.allSatisfy(\.isHexDigit), signature.hasPrefix("v1=") else {
            return .malformed
        }
        let expected = AgentSigning.signature(key: SymmetricKey(data: keyBytes), method: method, path: path, timestamp: ts, nonce: nonce, body: body)
        // Constant time: compare MACs, not strings.
        guard let given = Data(hex: String(signature.dropFirst(3))), let wanted = Data(hex: String(expected.dropFirst(3))),
              given.count == wanted.count, zip(given, wanted).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            return .badSignature
        }
        let nowSeconds = Int64(now.timeIntervalSince1970)
        let windowSeconds = window.components.seconds
        guard abs(nowSeconds - ts) <= windowSeconds else { return .stale }
        return seen.withLock { seen -> AuthFailure? in
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
