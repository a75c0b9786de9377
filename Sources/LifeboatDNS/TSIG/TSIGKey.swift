import Crypto
import Foundation

/// A TSIG key (hmac-sha256), as `tsig-keygen` and Knot's `keymgr -t` print it. The secret never prints.
public struct TSIGKey: Sendable, CustomStringConvertible {
    public var name: DNSName
    private let secret: [UInt8]

    public static let algorithm = try! DNSName("hmac-sha256")

    /// `secretBase64` is the key's secret in base64, as in the server's config.
    public init(name: String, secretBase64: String) throws {
        guard let data = Data(base64Encoded: secretBase64.trimmingCharacters(in: .whitespacesAndNewlines)), !data.isEmpty else {
            throw TSIGError.badSecret(name)
        }
        self.name = try DNSName(name)
        self.secret = Array(data)
    }

    public var description: String { "TSIG key \(name) (hmac-sha256, secret redacted)" }

    func mac(_ bytes: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: secret)))
    }

    /// Signs a request: appends the TSIG record to `message` (RFC 8945 §4.3.1) and returns the
    /// wire bytes and the MAC the response must be verified against.
    public func sign(_ message: DNSMessage, now: UInt64, fudge: UInt16 = 300) -> (bytes: [UInt8], mac: [UInt8]) {
        var unsigned = message
        unsigned.additional.removeAll { $0.type == .tsig }
        let body = unsigned.encode()
        var tsig = TSIGData(algorithm: Self.algorithm, timeSigned: now, fudge: fudge, mac: [], originalID: message.id, error: 0, other: [])
        tsig.mac = mac(body + variables(tsig))
        var signed = unsigned
        signed.additional.append(DNSRecord(name: name, type: .tsig, dnsClass: .any, ttl: 0, data: .tsig(tsig)))
        return (signed.encode(), tsig.mac)
    }

    /// Verifies a response's TSIG against the request MAC (RFC 8945 §5.3): the MAC covers the
    /// request MAC, the response as received without its TSIG record, and the TSIG variables.
    public func verify(response bytes: [UInt8], message: DNSMessage, requestMAC: [UInt8], now: UInt64) throws {
        guard let last = message.additional.last, last.type == .tsig, case .tsig(let tsig) = last.data,
              let offset = message.lastAdditionalOffset else {
            throw TSIGError.unsigned(rcode: message.responseCode)
        }
        guard last.name == name else { throw TSIGError.wrongKey(last.name.description) }
        if tsig.error != 0 {
            // The server could not verify us: BADSIG, BADKEY or BADTIME; its answer is unsigned.
            throw TSIGError.rejectedByServer(DNSResponseCode(rawValue: tsig.error))
        }
        var body = Array(bytes[0..<offset])
        // Original ID and the additional count without the TSIG record.
        body[0] = UInt8(tsig.originalID >> 8)
        body[1] = UInt8(tsig.originalID & 0xFF)
        let arcount = (UInt16(body[10]) << 8 | UInt16(body[11])) - 1
        body[10] = UInt8(arcount >> 8)
        body[11] = UInt8(arcount & 0xFF)
        var prefix: [UInt8] = []
        prefix.appendUInt16(UInt16(requestMAC.count))
        prefix += requestMAC
        let expected = mac(prefix + body + variables(tsig))
        guard expected.count == tsig.mac.count, zip(expected, tsig.mac).allSatisfy({ $0 == $1 }) else {
            throw TSIGError.badResponseSignature
        }
        let skew = now > tsig.timeSigned ? now - tsig.timeSigned : tsig.timeSigned - now
        guard skew <= UInt64(tsig.fudge) else { throw TSIGError.responseTimeOutsideFudge(skew: skew) }
    }

    /// The TSIG variables (RFC 8945 §4.3.3), canonical names.
    private func variables(_ tsig: TSIGData) -> [UInt8] {
        var out: [UInt8] = []
        name.canonical.write(to: &out)
        out.appendUInt16(DNSClass.any.rawValue)
        out.appendUInt32(0)
        tsig.algorithm.canonical.write(to: &out)
        out.appendUInt48(tsig.timeSigned)
        out.appendUInt16(tsig.fudge)
        out.appendUInt16(tsig.error)
        out.appendUInt16(UInt16(tsig.other.count))
        out += tsig.other
        return out
    }
}

public enum TSIGError: Error, Equatable, CustomStringConvertible {
    case badSecret(String)
    case unsigned(rcode: DNSResponseCode)
    case wrongKey(String)
    case rejectedByServer(DNSResponseCode)
    case badResponseSignature
    case responseTimeOutsideFudge(skew: UInt64)

    public var description: String {
        switch self {
        case .badSecret(let name): return "TSIG key \(name): the secret is not valid base64"
        case .unsigned(let rcode): return "the server's answer (\(rcode)) carries no TSIG signature; is the key configured on the server?"
        case .wrongKey(let name): return "the server signed its answer with key \(name), not ours"
        case .rejectedByServer(.badKey): return "BADKEY: the server does not know this TSIG key (name or algorithm), or the zone's update ACL does not name it"
        case .rejectedByServer(.badSig): return "BADSIG: the server rejected our signature; the TSIG secret differs from the server's"
        case .rejectedByServer(.badTime): return "BADTIME: the server's clock and ours differ by more than the allowed fudge (check NTP)"
        case .rejectedByServer(let code): return "the server rejected our TSIG signature (\(code))"
        case .badResponseSignature: return "the server's answer has a TSIG signature that does not verify; not trusting it"
        case .responseTimeOutsideFudge(let skew): return "the server's answer was signed \(skew)s away from our clock, beyond the fudge"
        }
    }
}
