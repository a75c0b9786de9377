import Foundation
import LifeboatDNS
import LifeboatTestSupport
import Synchronization

/// A local stand-in for Amazon Route 53's REST-XML API (2013-04-01), following the service model
/// (extract in Fixtures/): ListResourceRecordSets (`name`, `type`, `maxitems`, sorted by name with
/// the labels reversed, then type; `IsTruncated`, `NextRecordName`), ChangeResourceRecordSets (the
/// batch applied all or nothing: a DELETE must match the record set exactly, CREATE must not find
/// one, UPSERT replaces) and GetChange (`PENDING` for a set time, then `INSYNC`). Errors come as
/// `ErrorResponse` documents (`InvalidChangeBatch` as its own document); throttling (HTTP 400
/// `Throttling`, `PriorRequestNotComplete`) and other errors are scripted with `fail`. Every
/// request must carry a SigV4 Authorization header that `verify` accepts.
final class FakeRoute53: Sendable {
    struct RecordSet: Sendable, Equatable {
        var name: String
        var type: String
        var ttl: Int
        var values: [String]
    }

    struct State {
        var sets: [RecordSet] = []
        var requests: [RecordedRequest] = []
        var changes: [String: ContinuousClock.Instant] = [:]
        var nextChange = 0
        var pendingFor: Duration = .milliseconds(300)
        var failures: [(Int, String)] = []
        var afterRequest: (number: Int, change: @Sendable (inout [RecordSet]) -> Void)?
    }

    final class Store: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    let zoneID: String
    private let state = Store()
    private let server: TestHTTPServer
    var baseURL: String { "http://127.0.0.1:\(server.port)" }

    init(zoneID: String = "Z1D633PJN98FT9", verify: @escaping @Sendable (RecordedRequest) -> Bool) async throws {
        self.zoneID = zoneID
        let state = self.state
        server = try await TestHTTPServer { request in
            Self.respond(to: request, state: state, zoneID: zoneID, verify: verify)
        }
    }

    func stop() async { await server.stop() }

    func add(_ set: RecordSet) { state.withLock { $0.sets.append(set) } }
    var sets: [RecordSet] { state.withLock { $0.sets } }
    var requests: [RecordedRequest] { state.withLock { $0.requests } }
    func pending(for duration: Duration) { state.withLock { $0.pendingFor = duration } }
    func fail(_ status: Int, code: String) { state.withLock { $0.failures.append((status, code)) } }
    func change(afterRequest number: Int, _ change: @escaping @Sendable (inout [RecordSet]) -> Void) {
        state.withLock { $0.afterRequest = (number, change) }
    }

    static let namespace = "https://route53.amazonaws.com/doc/2013-04-01/"

    static func error(_ status: Int, _ code: String, _ message: String) -> (Int, [(String, String)], Data) {
        let body = "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"\(namespace)\"><Error><Type>Sender</Type><Code>\(code)</Code>"
            + "<Message>\(XMLNode.escape(message))</Message></Error><RequestId>0000-fake</RequestId></ErrorResponse>"
        return (status, [("Content-Type", "text/xml")], Data(body.utf8))
    }

    private static func respond(to request: RecordedRequest, state: Store, zoneID: String,
                                verify: @Sendable (RecordedRequest) -> Bool) -> (status: Int, headers: [(String, String)], body: Data) {
        let (number, failure): (Int, (Int, String)?) = state.withLock { s in
            s.requests.append(request)
            return (s.requests.count, s.failures.isEmpty ? nil : s.failures.removeFirst())
        }
        defer {
            state.withLock { s in
                if let after = s.afterRequest, after.number == number { after.change(&s.sets); s.afterRequest = nil }
            }
        }
        if let (status, code) = failure { return error(status, code, code == "Throttling" ? "Rate exceeded" : "injected") }
        guard verify(request) else { return error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.") }
        let parts = request.path.split(separator: "/").map(String.init)
        switch (request.method, parts.count) {
        case ("GET", 4) where parts[0] == "2013-04-01" && parts[1] == "hostedzone" && parts[3] == "rrset":
            guard parts[2] == zoneID else { return error(404, "NoSuchHostedZone", "No hosted zone found with ID: \(parts[2])") }
            return list(request, state: state)
        case ("POST", 4) where parts[0] == "2013-04-01" && parts[1] == "hostedzone" && parts[3] == "rrset" && request.path.hasSuffix("/"):
            guard parts[2] == zoneID else { return error(404, "NoSuchHostedZone", "No hosted zone found with ID: \(parts[2])") }
            return change(request, state: state)
        case ("GET", 3) where parts[0] == "2013-04-01" && parts[1] == "change":
            let status: String? = state.withLock { s in
                s.changes[parts[2]].map { $0.duration(to: .now) >= s.pendingFor ? "INSYNC" : "PENDING" }
            }
            guard let status else { return error(404, "NoSuchChange", "Could not find resource with ID: \(parts[2])") }
            return (200, [("Content-Type", "text/xml")], Data(changeInfo("GetChangeResponse", id: parts[2], status: status).utf8))
        default:
            return error(404, "UnknownOperationException", "no such operation: \(request.method) \(request.path)")
        }
    }

    static func changeInfo(_ root: String, id: String, status: String) -> String {
        "<?xml version=\"1.0\"?>\n<\(root) xmlns=\"\(namespace)\"><ChangeInfo><Id>/change/\(id)</Id><Status>\(status)</Status>"
            + "<SubmittedAt>2026-12-03T12:00:00.000Z</SubmittedAt></ChangeInfo></\(root)>"
    }

    /// Route 53's list order: name with its labels reversed, then type.
    static func key(_ name: String, _ type: String) -> String {
        name.lowercased().split(separator: ".").reversed().joined(separator: ".") + " " + type
    }

    private static func list(_ request: RecordedRequest, state: Store) -> (Int, [(String, String)], Data) {
        if request.query["type"] != nil, request.query["name"] == nil { return error(400, "InvalidInput", "type requires name") }
        let max = Int(request.query["maxitems"] ?? "100") ?? 100
        let start = key(request.query["name"].map { $0.hasSuffix(".") ? $0 : $0 + "." } ?? "", request.query["type"] ?? "")
        let sorted = state.withLock { $0.sets }.sorted { key($0.name, $0.type) < key($1.name, $1.type) }.filter { key($0.name, $0.type) >= start }
        let page = sorted.prefix(max)
        var xml = "<?xml version=\"1.0\"?>\n<ListResourceRecordSetsResponse xmlns=\"\(namespace)\"><ResourceRecordSets>"
        for set in page {
            xml += "<ResourceRecordSet><Name>\(set.name)</Name><Type>\(set.type)</Type><TTL>\(set.ttl)</TTL><ResourceRecords>"
                + set.values.map { "<ResourceRecord><Value>\(XMLNode.escape($0))</Value></ResourceRecord>" }.joined() + "</ResourceRecords></ResourceRecordSet>"
        }
        xml += "</ResourceRecordSets><IsTruncated>\(sorted.count > max)</IsTruncated>"
        if sorted.count > max { xml += "<NextRecordName>\(sorted[max].name)</NextRecordName><NextRecordType>\(sorted[max].type)</NextRecordType>" }
        xml += "<MaxItems>\(max)</MaxItems></ListResourceRecordSetsResponse>"
        return (200, [("Content-Type", "text/xml")], Data(xml.utf8))
    }

    private static func change(_ request: RecordedRequest, state: Store) -> (Int, [(String, String)], Data) {
        guard let body = request.body, let root = XMLNode.parse(body), root.name == "ChangeResourceRecordSetsRequest", root.namespace == namespace,
              let changes = root.child("ChangeBatch")?.child("Changes")?.all("Change"), !changes.isEmpty else {
            return error(400, "InvalidInput", "Invalid XML ; cvc-complex-type: ChangeResourceRecordSetsRequest expected")
        }
        typealias Step = (action: String, set: RecordSet)
        var steps: [Step] = []
        for change in changes {
            guard let action = change.value("Action"), let rrs = change.child("ResourceRecordSet"), let name = rrs.value("Name"), let type = rrs.value("Type"),
                  let ttl = rrs.value("TTL").flatMap(Int.init) else {
                return error(400, "InvalidInput", "a Change needs Action and a ResourceRecordSet with Name, Type and TTL")
            }
            let values = rrs.child("ResourceRecords")?.all("ResourceRecord").compactMap { $0.value("Value") } ?? []
            steps.append((action, RecordSet(name: name.hasSuffix(".") ? name : name + ".", type: type, ttl: ttl, values: values)))
        }
        let outcome: Result<String, FakeFailure> = state.withLock { s in
            var sets = s.sets
            var messages: [String] = []
            for step in steps {
                let index = sets.firstIndex { $0.name.lowercased() == step.set.name.lowercased() && $0.type == step.set.type }
                switch step.action {
                case "DELETE":
                    if let index, sets[index].ttl == step.set.ttl, Set(sets[index].values) == Set(step.set.values) {
                        sets.remove(at: index)
                    } else {
                        messages.append("Tried to delete resource record set [name='\(step.set.name)', type='\(step.set.type)'] but "
                                        + (index == nil ? "it was not found" : "the values provided do not match the current values"))
                    }
                case "CREATE":
                    if index != nil { messages.append("Tried to create resource record set [name='\(step.set.name)', type='\(step.set.type)'] but it already exists") }
                    else { sets.append(step.set) }
                case "UPSERT":
                    if let index { sets[index] = step.set } else { sets.append(step.set) }
                default:
                    messages.append("unknown action \(step.action)")
                }
            }
            guard messages.isEmpty else { return .failure(FakeFailure(messages: messages)) }
            s.sets = sets
            s.nextChange += 1
            let id = "C\(String(format: "%012d", s.nextChange))"
            s.changes[id] = .now
            return .success(id)
        }
        switch outcome {
        case .success(let id):
            return (200, [("Content-Type", "text/xml")], Data(changeInfo("ChangeResourceRecordSetsResponse", id: id, status: "PENDING").utf8))
        case .failure(let failure):
            let body = "<?xml version=\"1.0\"?>\n<InvalidChangeBatch xmlns=\"\(namespace)\"><Messages>"
                + failure.messages.map { "<Message>\(XMLNode.escape($0))</Message>" }.joined() + "</Messages></InvalidChangeBatch>"
            return (400, [("Content-Type", "text/xml")], Data(body.utf8))
        }
    }

    struct FakeFailure: Error { var messages: [String] }
}
