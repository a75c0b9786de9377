import AsyncHTTPClient
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatPorts
import NIOCore
import NIOHTTP1

/// What went wrong talking to Route 53; never carries the secret key.
public enum Route53Error: Error, Equatable, CustomStringConvertible {
    /// An error answer Lifeboat does not retry, with Route 53's code and messages.
    case rejected(status: Int, code: String, messages: [String])
    /// The batch's DELETE no longer matched the record: someone changed it (compare-and-swap refused).
    case recordChanged(record: String, messages: [String])
    case retriesExhausted(attempts: Int, last: String)
    case unexpectedBody(String)
    case recordNotFound(record: String)
    /// A weighted, latency, failover, geolocation, multivalue or alias record set.
    case notSimple(record: String)
    case notInSync(change: String, after: Duration)

    public var description: String {
        switch self {
        case .rejected(let status, let code, let messages):
            let hint = ["AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken"].contains(code)
                ? " (check dns.route53.access_key_id and the secret key; the IAM user or role needs route53:ListResourceRecordSets, route53:ChangeResourceRecordSets and route53:GetChange on this hosted zone)" : ""
            return "Route 53 refused the request (HTTP \(status) \(code)): \(messages.joined(separator: "; "))\(hint)"
        case .recordChanged(let record, let messages):
            return "\(record) changed while Lifeboat was switching it, so Route 53 refused the whole batch (\(messages.joined(separator: "; "))); nothing was changed"
        case .retriesExhausted(let attempts, let last):
            return "Route 53 did not take the request after \(attempts) attempts (last: \(last))"
        case .unexpectedBody(let detail):
            return "Route 53 answered something Lifeboat cannot read: \(detail)"
        case .recordNotFound(let record):
            return "the hosted zone holds no A record set named \(record); create it once with the primary region's address(es)"
        case .notSimple(let record):
            return "\(record) is a weighted, latency, failover, geolocation, multivalue or alias record set; Lifeboat moves a simple A record set"
        case .notInSync(let change, let after):
            return "Route 53 accepted change \(change) but it was not INSYNC on all its name servers after \(DurationText.format(after)); the next attempt checks again"
        }
    }
}

/// One simple A record set as Route 53 lists it.
public struct Route53RecordSet: Sendable, Equatable {
    public var name: String
    public var ttl: Int
    public var values: [String]
}

/// Route 53's REST-XML API (2013-04-01) for one hosted zone: ListResourceRecordSets,
/// ChangeResourceRecordSets and GetChange, signed with SigV4 for service `route53` in us-east-1.
/// Retries throttling (`Throttling`, `PriorRequestNotComplete`) and 5xx with backoff and jitter.
public struct Route53Client: Sendable {
    public static let namespace = "https://route53.amazonaws.com/doc/2013-04-01/"
    public var baseURL: String
    public var hostedZoneID: String
    let signer: SigV4Signer
    public var http: HTTPClient
    public var requestTimeout: Duration
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    public var now: @Sendable () -> Date

    public init(baseURL: String = "https://route53.amazonaws.com", hostedZoneID: String, accessKeyID: String, secretAccessKey: Secret,
                sessionToken: Secret? = nil, http: HTTPClient = .shared, requestTimeout: Duration = .seconds(10), maxAttempts: Int = 5,
                baseDelay: Duration = .milliseconds(250), maxDelay: Duration = .seconds(10), now: @escaping @Sendable () -> Date = { Date() }) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.hostedZoneID = hostedZoneID.hasPrefix("/hostedzone/") ? String(hostedZoneID.dropFirst("/hostedzone/".count)) : hostedZoneID
        self.signer = SigV4Signer(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken, region: "us-east-1", service: "route53")
        self.http = http
        self.requestTimeout = requestTimeout
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.now = now
    }

    /// The A record set named `fqdn` (with the root dot), or nil. Refuses a non-simple set.
    public func aRecordSet(named fqdn: String) async throws -> Route53RecordSet? {
        let (_, data) = try await send("GET", "/2013-04-01/hostedzone/\(hostedZoneID)/rrset", query: ["name": fqdn, "type": "A", "maxitems": "1"], body: nil)
        guard let root = XMLNode.parse(data), root.name == "ListResourceRecordSetsResponse", let sets = root.child("ResourceRecordSets") else {
            throw Route53Error.unexpectedBody("ListResourceRecordSets: no ListResourceRecordSetsResponse")
        }
        guard let set = sets.all("ResourceRecordSet").first(where: { ($0.value("Name") ?? "").lowercased() == fqdn.lowercased() && $0.value("Type") == "A" })
        else { return nil }
        let simple = ["SetIdentifier", "AliasTarget", "Weight", "Region", "GeoLocation", "Failover", "MultiValueAnswer"].allSatisfy { set.child($0) == nil }
        guard simple else { throw Route53Error.notSimple(record: fqdn) }
        guard let ttl = set.value("TTL").flatMap(Int.init) else { throw Route53Error.unexpectedBody("ResourceRecordSet \(fqdn) without a TTL") }
        let values = set.child("ResourceRecords")?.all("ResourceRecord").compactMap { $0.value("Value") } ?? []
        return Route53RecordSet(name: fqdn, ttl: ttl, values: values)
    }

    /// DELETE of `old` exactly as it is and UPSERT of the new values, in one batch: Route 53 applies
    /// both or neither, so a record someone changed makes the batch fail. Returns the change's ID.
    public func replace(_ old: Route53RecordSet, with values: [String], ttl: Int, comment: String) async throws -> String {
        func set(_ ttl: Int, _ values: [String]) -> String {
            "<ResourceRecordSet><Name>\(XMLNode.escape(old.name))</Name><Type>A</Type><TTL>\(ttl)</TTL><ResourceRecords>"
                + values.map { "<ResourceRecord><Value>\(XMLNode.escape($0))</Value></ResourceRecord>" }.joined()
                + "</ResourceRecords></ResourceRecordSet>"
        }
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"\(Self.namespace)\"><ChangeBatch>"
            + "<Comment>\(XMLNode.escape(String(comment.prefix(256))))</Comment><Changes>"
            + "<Change><Action>DELETE</Action>\(set(old.ttl, old.values))</Change>"
            + "<Change><Action>UPSERT</Action>\(set(ttl, values))</Change>"
            + "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
        let data: Data
        do {
            (_, data) = try await send("POST", "/2013-04-01/hostedzone/\(hostedZoneID)/rrset/", query: [:], body: Data(body.utf8))
        } catch Route53Error.rejected(_, let code, let messages) where code == "InvalidChangeBatch" {
            throw Route53Error.recordChanged(record: old.name, messages: messages)
        }
        guard let root = XMLNode.parse(data), root.name == "ChangeResourceRecordSetsResponse", let id = root.value("ChangeInfo", "Id") else {
            throw Route53Error.unexpectedBody("ChangeResourceRecordSets: no ChangeInfo Id")
        }
        return id
    }

    /// `PENDING` or `INSYNC` for a change ID (`/change/C…` or `C…`).
    public func changeStatus(_ id: String) async throws -> String {
        let bare = id.split(separator: "/").last.map(String.init) ?? id
        let (_, data) = try await send("GET", "/2013-04-01/change/\(bare)", query: [:], body: nil)
        guard let root = XMLNode.parse(data), root.name == "GetChangeResponse", let status = root.value("ChangeInfo", "Status") else {
            throw Route53Error.unexpectedBody("GetChange: no ChangeInfo Status")
        }
        return status
    }

    func send(_ method: String, _ path: String, query: [String: String], body: Data?) async throws -> (Int, Data) {
        let queryText = query.sorted { $0.key < $1.key }.map { "\(SigV4Signer.encode($0.key))=\(SigV4Signer.encode($0.value))" }.joined(separator: "&")
        let target = queryText.isEmpty ? path : "\(path)?\(queryText)"
        guard let components = URLComponents(string: baseURL), let host = components.host else { throw Route53Error.unexpectedBody("bad base URL") }
        let hostHeader = components.port.map { "\(host):\($0)" } ?? host
        return try await Retrying(maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: maxDelay).run({
            var request = HTTPClientRequest(url: baseURL + target)
            request.method = HTTPMethod(rawValue: method)
            var signedHeaders: [(String, String)] = []
            if body != nil { signedHeaders.append(("Content-Type", "application/xml")) }
            let signed = signer.sign(method: method, host: hostHeader, path: target, headers: signedHeaders, body: body.map(Array.init) ?? [], date: now())
            for (name, value) in signedHeaders { request.headers.add(name: name, value: value) }
            for header in signed.headers { request.headers.add(name: header.name, value: header.value) }
            request.headers.add(name: "User-Agent", value: "lifeboat")
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            do {
                let response = try await http.execute(request, timeout: .milliseconds(Int64(requestTimeout.components.seconds) * 1000
                                                                                      + requestTimeout.components.attoseconds / 1_000_000_000_000_000))
                let data = Data(try await response.body.collect(upTo: 4 << 20).readableBytesView)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return .success((status, data)) }
                let (code, messages) = Self.error(data)
                let retry = status >= 500 || ["Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestTimeout"].contains(code)
                guard retry else { throw Route53Error.rejected(status: status, code: code, messages: messages) }
                return .retry("\(status) \(code)\(messages.isEmpty ? "" : ": \(messages.joined(separator: "; "))")", after: nil)
            } catch let error as Route53Error {
                throw error
            } catch {
                return .retry("\(error)", after: nil)
            }
        }, exhausted: { Route53Error.retriesExhausted(attempts: $0, last: $1) })
    }

    /// The code and messages of an `ErrorResponse` (or an `InvalidChangeBatch` document).
    static func error(_ data: Data) -> (code: String, messages: [String]) {
        guard let root = XMLNode.parse(data) else { return ("(no error document)", []) }
        if root.name == "InvalidChangeBatch" {
            return ("InvalidChangeBatch", (root.child("Messages")?.all("Message") ?? []).map { LogSafe.escape($0.text, maxLength: 300) })
        }
        let error = root.child("Error") ?? root
        return (error.value("Code") ?? "(no code)", error.value("Message").map { [LogSafe.escape($0, maxLength: 300)] } ?? [])
    }
}

/// An A record set in a Route 53 hosted zone. The compare-and-swap is Route 53's own: the batch
/// DELETEs the record set exactly as it was read and UPSERTs the new one, atomically, and Lifeboat
/// then asks GetChange until the change is INSYNC on every Route 53 name server.
public struct Route53Provider: DNSProvider {
    public var client: Route53Client
    public var fqdn: String
    public var insyncTimeout: Duration
    public var pollInterval: Duration

    public init(client: Route53Client, record: String, insyncTimeout: Duration = .seconds(120), pollInterval: Duration = .seconds(2)) {
        self.client = client
        self.fqdn = record.hasSuffix(".") ? record : record + "."
        self.insyncTimeout = insyncTimeout
        self.pollInterval = pollInterval
    }

    public var name: String { "Route 53 (hosted zone \(client.hostedZoneID))" }
    public var record: String { fqdn }

    public func currentTargets() async throws -> (targets: [IPv4], ttl: Int?) {
        guard let set = try await client.aRecordSet(named: fqdn) else { throw Route53Error.recordNotFound(record: fqdn) }
        return (set.values.compactMap(IPv4.init).sorted(), set.ttl)
    }

    public func replaceTargets(expected: [IPv4], with targets: [IPv4], ttl: Int) async throws -> Int {
        guard let set = try await client.aRecordSet(named: fqdn) else { throw Route53Error.recordNotFound(record: fqdn) }
        let found = set.values.compactMap(IPv4.init).sorted()
        guard found == expected, found.count == set.values.count else {
            throw Route53Error.recordChanged(record: fqdn, messages: ["it holds \(set.values.joined(separator: ", ")), not \(expected.map(\.description).joined(separator: ", "))"])
        }
        let id = try await client.replace(set, with: targets.sorted().map(\.description), ttl: ttl,
                                          comment: "lifeboat: \(expected.map(\.description).joined(separator: ",")) -> \(targets.map(\.description).joined(separator: ","))")
        let clock = ContinuousClock()
        let start = clock.now
        while try await client.changeStatus(id) != "INSYNC" {
            guard start.duration(to: clock.now) < insyncTimeout else { throw Route53Error.notInSync(change: id, after: insyncTimeout) }
            try await Task.sleep(for: pollInterval)
        }
        return ttl
    }
}
