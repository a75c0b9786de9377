import Crypto
import Foundation
import LifeboatConfig

/// AWS Signature Version 4 (the `Authorization: AWS4-HMAC-SHA256 …` header every AWS API, Route 53
/// included, checks), with swift-crypto's SHA-256 and HMAC. Checked against AWS's published test
/// suite (Tests/LifeboatDNSTests/SigV4Tests.swift). The secret key stays a `Secret`: only the
/// signature derived from it leaves this type.
public struct SigV4Signer: Sendable {
    public var accessKeyID: String
    let secretAccessKey: Secret
    let sessionToken: Secret?
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: Secret, sessionToken: Secret? = nil, region: String, service: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// What signing produced: the headers to add to the request, and the intermediate forms
    /// (for tests and for explaining a 403 `SignatureDoesNotMatch`).
    public struct Signed: Sendable, Equatable {
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String

        public static func == (a: Signed, b: Signed) -> Bool {
            a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" } && a.canonicalRequest == b.canonicalRequest
                && a.stringToSign == b.stringToSign && a.signature == b.signature
        }

        public var authorization: String? { headers.first { $0.name == "Authorization" }?.value }
    }

    /// Signs a request to `host` + `path` (`?query` included, unencoded or encoded). `headers` are
    /// the request's own headers to sign besides `host` and `x-amz-date`, which are added (with
    /// `x-amz-security-token` for temporary credentials).
    public func sign(method: String, host: String, path: String, headers: [(String, String)] = [], body: [UInt8] = [], date: Date) -> Signed {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        var all = headers.map { (name: $0.0.lowercased(), value: $0.1) }
        all.append((name: "host", value: host))
        all.append((name: "x-amz-date", value: amzDate))
        var added: [(name: String, value: String)] = [(name: "X-Amz-Date", value: amzDate)]
        if let token = sessionToken?.reveal() {
            all.append((name: "x-amz-security-token", value: token))
            added.append((name: "X-Amz-Security-Token", value: token))
        }
        let (rawPath, rawQuery) = path.firstIndex(of: "?").map { (String(path[..<$0]), String(path[path.index(after: $0)...])) } ?? (path, "")
        let canonicalHeaders = Dictionary(grouping: all, by: \.name)
            .map { name, values in (name, values.map { Self.collapse($0.value) }.joined(separator: ",")) }
            .sorted { $0.0 < $1.0 }
        let signedHeaders = canonicalHeaders.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method.uppercased(),
            Self.canonicalURI(rawPath),
            Self.canonicalQuery(rawQuery),
            canonicalHeaders.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders,
            Self.hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        let key = Self.signingKey(secret: secretAccessKey, day: day, region: region, service: service)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: key)))
        added.append((name: "Authorization",
                      value: "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return Signed(headers: added, canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    public static func signingKey(secret: Secret, day: String, region: String, service: String) -> [UInt8] {
        var key = Array(("AWS4" + secret.reveal()).utf8)
        for part in [day, region, service, "aws4_request"] {
            key = Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: SymmetricKey(data: key)))
        }
        return key
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ n: Int?) -> String { let v = n ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year ?? 1970)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in paths).
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII, c.isLetter || c.isNumber || "-._~".contains(c) || (keepSlash && c == "/") {
                out.append(c)
            } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    static func decode(_ text: String) -> String { text.removingPercentEncoding ?? text }

    static func canonicalURI(_ path: String) -> String {
        path.isEmpty ? "/" : encode(decode(path), keepSlash: true)
    }

    /// Each `key=value` decoded then encoded, sorted by key, then value.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(key: String, value: String)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = encode(decode(String(parts[0])))
            let value = encode(decode(parts.count > 1 ? String(parts[1]) : ""))
            pairs.append((key, value))
        }
        pairs.sort { a, b in a.key == b.key ? a.value < b.value : a.key < b.key }
        return pairs.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }

    /// Leading and trailing spaces trimmed, runs of spaces made one.
    static func collapse(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
