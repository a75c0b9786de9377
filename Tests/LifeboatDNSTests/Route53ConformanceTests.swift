import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPorts
import LifeboatTestSupport
import Testing

/// The Route 53 switch against a stand-in; every request is checked against the Route 53 service
/// model AWS publishes with botocore (extract in Fixtures/) and its SigV4 signature is recomputed.
@Suite struct Route53ConformanceTests {
    static let keyID = "AKIAIOSFODNN7EXAMPLE"
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    static func model() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/route53-2013-04-01-subset.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// Recomputes the request's SigV4 signature with the known secret (service route53, us-east-1).
    static func signatureMatches(_ request: RecordedRequest, secret: String = secret) -> Bool {
        guard let authorization = request.headers["authorization"], let amzDate = request.headers["x-amz-date"], let host = request.headers["host"],
              let signedList = authorization.components(separatedBy: "SignedHeaders=").last?.components(separatedBy: ",").first else { return false }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        guard let date = formatter.date(from: amzDate) else { return false }
        let extra = signedList.split(separator: ";").map(String.init).filter { !["host", "x-amz-date", "x-amz-security-token"].contains($0) }
            .map { ($0, request.headers[$0] ?? "") }
        let query = request.query.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.value)" }.joined(separator: "&")
        let signer = SigV4Signer(accessKeyID: keyID, secretAccessKey: Secret(secret), region: "us-east-1", service: "route53")
        let signed = signer.sign(method: request.method, host: host, path: request.path + (query.isEmpty ? "" : "?" + query), headers: extra,
                                 body: request.body.map(Array.init) ?? [], date: date)
        return signed.authorization == authorization
    }

    static func traffic(_ fake: FakeRoute53, secret: String = secret) -> DNSTrafficSwitch {
        let client = Route53Client(baseURL: fake.baseURL, hostedZoneID: "/hostedzone/Z1D633PJN98FT9", accessKeyID: keyID, secretAccessKey: Secret(secret),
                                   baseDelay: .milliseconds(100), maxDelay: .milliseconds(400))
        return DNSTrafficSwitch(provider: Route53Provider(client: client, record: "app.example.com", insyncTimeout: .seconds(10), pollInterval: .milliseconds(50)),
                                targets: ["us": [IPv4("192.0.2.10")!], "eu": [IPv4("198.51.100.20")!, IPv4("198.51.100.21")!]], ttl: 60, verifiers: [])
    }

    @Test func aSwitchIsOneAtomicBatchFollowedUntilInSync() async throws {
        let model = try Self.model()
        let fake = try await FakeRoute53 { Self.signatureMatches($0) }
        defer { Task { await fake.stop() } }
        fake.add(.init(name: "app.example.com.", type: "A", ttl: 300, values: ["192.0.2.10"]))
        fake.add(.init(name: "app.example.com.", type: "TXT", ttl: 300, values: ["\"v=lifeboat\""]))
        fake.add(.init(name: "www.example.com.", type: "A", ttl: 300, values: ["203.0.113.7"]))
        fake.pending(for: .milliseconds(250))
        // Route 53 allows five requests a second per account; throttled requests are retried.
        fake.fail(400, code: "Throttling")
        fake.fail(400, code: "PriorRequestNotComplete")
        let result = try await Self.traffic(fake).switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(3), timeout: .seconds(20), progress: { _ in })
        #expect(result.changed)
        #expect(fake.sets.first { $0.name == "app.example.com." && $0.type == "A" } == .init(name: "app.example.com.", type: "A", ttl: 60, values: ["198.51.100.20", "198.51.100.21"]))
        #expect(fake.sets.count == 3, "the TXT and the other name are untouched")
        let requests = fake.requests
        #expect(requests.count >= 6 && requests[0].path == requests[2].path && requests[0].query == requests[2].query,
                "the throttled read was asked again: \(requests.map(\.path))")
        let posts = requests.filter { $0.method == "POST" }
        #expect(posts.count >= 1)
        let batch = try #require(posts.last?.body.flatMap(XMLNode.parse)?.child("ChangeBatch")?.child("Changes")?.all("Change"))
        #expect(batch.map { $0.value("Action") } == ["DELETE", "UPSERT"], "one batch: the old value deleted, the new upserted")
        #expect(batch.first?.value("ResourceRecordSet", "TTL") == "300", "the DELETE names the record set exactly as it is")
        #expect(requests.contains { $0.path.contains("/change/") }, "GetChange was asked until INSYNC")
        #expect(requests.contains { $0.headers["authorization"] != nil && Self.signatureMatches($0) })
        try Self.check(requests.filter { $0.headers["authorization"] != nil }, against: model)

        // Again: nothing to do, no change batch.
        let before = fake.requests.filter { $0.method == "POST" }.count
        let again = try await Self.traffic(fake).switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(3), timeout: .seconds(20), progress: { _ in })
        #expect(!again.changed)
        #expect(fake.requests.filter { $0.method == "POST" }.count == before)
    }

    /// Someone changes the record between Lifeboat's read and its batch: the DELETE no longer
    /// matches, Route 53 refuses the whole batch, and their value stays.
    @Test func aConcurrentChangeIsRefusedByTheBatch() async throws {
        let fake = try await FakeRoute53 { Self.signatureMatches($0) }
        defer { Task { await fake.stop() } }
        fake.add(.init(name: "app.example.com.", type: "A", ttl: 60, values: ["192.0.2.10"]))
        // Request 2 is the provider's own read just before its batch.
        fake.change(afterRequest: 2) { sets in sets[0].values = ["203.0.113.99"] }
        do {
            _ = try await Self.traffic(fake).switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(3), timeout: .seconds(10), progress: { _ in })
            Issue.record("a batch over a changed record went through")
        } catch let error as Route53Error {
            guard case .recordChanged(let record, let messages) = error else { Issue.record("\(error)"); return }
            #expect(record == "app.example.com." && messages.first?.contains("do not match") == true, "\(messages)")
            #expect("\(error)".contains("nothing was changed"))
        }
        #expect(fake.sets.first?.values == ["203.0.113.99"])
        #expect(fake.requests.filter { $0.method == "POST" }.count == 1)
    }

    @Test func wrongKeysOutagesAndOddRecordsAreExplained() async throws {
        let fake = try await FakeRoute53 { Self.signatureMatches($0) }
        defer { Task { await fake.stop() } }
        fake.add(.init(name: "app.example.com.", type: "A", ttl: 60, values: ["192.0.2.10"]))
        do {
            _ = try await Self.traffic(fake, secret: "not-the-secret-key").point(to: "eu", from: nil, dryRun: true)
            Issue.record("a wrong secret was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("SignatureDoesNotMatch") && text.contains("route53:ChangeResourceRecordSets") && !text.contains("not-the-secret-key"), "\(text)")
        }
        for _ in 0..<5 { fake.fail(503, code: "ServiceUnavailable") }
        do {
            _ = try await Self.traffic(fake).point(to: "eu", from: nil, dryRun: true)
            Issue.record("an outage went unnoticed")
        } catch {
            #expect("\(error)".contains("5 attempts") && "\(error)".contains("503"), "\(error)")
        }
        let empty = try await FakeRoute53 { Self.signatureMatches($0) }
        defer { Task { await empty.stop() } }
        await #expect(throws: Route53Error.recordNotFound(record: "app.example.com.")) {
            _ = try await Self.traffic(empty).point(to: "eu", from: nil, dryRun: true)
        }
    }

    // MARK: The check against the service model

    static func check(_ requests: [RecordedRequest], against model: [String: Any]) throws {
        let operations = try #require(model["operations"] as? [String: [String: Any]])
        let shapes = try #require(model["shapes"] as? [String: [String: Any]])
        let namespace = (model["metadata"] as? [String: Any])?["endpointPrefix"] as? String
        #expect(namespace == "route53")
        for request in requests {
            let parts = request.path.split(separator: "/", omittingEmptySubsequences: false)
            guard let (name, operation) = operations.first(where: { _, op in
                let http = op["http"] as? [String: Any] ?? [:]
                let template = (http["requestUri"] as? String ?? "").split(separator: "/", omittingEmptySubsequences: false)
                return http["method"] as? String == request.method && template.count == parts.count
                    && zip(template, parts).allSatisfy { t, p in t.hasPrefix("{") || t == p }
            }) else {
                Issue.record("\(request.method) \(request.path) is no Route 53 operation")
                continue
            }
            let authorization = request.headers["authorization"] ?? ""
            #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=\(keyID)/") && authorization.contains("/us-east-1/route53/aws4_request"),
                    "\(name): SigV4 for route53 in us-east-1")
            let input = try #require(operation["input"] as? [String: Any])
            let inputShape = try #require(shapes[input["shape"] as? String ?? ""])
            let members = inputShape["members"] as? [String: [String: Any]] ?? [:]
            // URI parameters: ResourceId, at most 32 characters.
            let uriMembers = members.values.filter { $0["location"] as? String == "uri" }
            for member in uriMembers {
                let template = ((operation["http"] as? [String: Any])?["requestUri"] as? String ?? "").split(separator: "/", omittingEmptySubsequences: false)
                for (t, p) in zip(template, parts) where t == "{\(member["locationName"] as? String ?? "")}" {
                    try checkValue(String(p), shape: member["shape"] as? String ?? "", shapes: shapes, at: "\(name) URI \(t)")
                }
            }
            for (key, value) in request.query {
                guard let member = members.values.first(where: { $0["location"] as? String == "querystring" && $0["locationName"] as? String == key }) else {
                    Issue.record("\(name): query parameter \(key) is not in \(input["shape"] ?? "")")
                    continue
                }
                try checkValue(value, shape: member["shape"] as? String ?? "", shapes: shapes, at: "\(name) ?\(key)")
            }
            if let locationName = input["locationName"] as? String {
                let body = try #require(request.body, "\(name) has a body")
                let root = try #require(XMLNode.parse(body), "\(name): the body is XML")
                #expect(root.name == locationName)
                #expect(root.namespace == (input["xmlNamespace"] as? [String: Any])?["uri"] as? String, "\(name): the model's xmlNamespace")
                try checkStructure(root, shape: input["shape"] as? String ?? "", shapes: shapes, at: locationName)
            } else {
                #expect(request.body == nil, "\(name) has no body")
            }
        }
    }

    static func checkValue(_ text: String, shape: String, shapes: [String: [String: Any]], at path: String) throws {
        let s = try #require(shapes[shape], "\(path): shape \(shape) is in the extract")
        switch s["type"] as? String {
        case "string":
            if let max = s["max"] as? Int { #expect(text.count <= max, "\(path): longer than \(max)") }
            if let min = s["min"] as? Int { #expect(text.count >= min, "\(path): shorter than \(min)") }
            if let values = s["enum"] as? [String] { #expect(values.contains(text), "\(path): \(text) is not one of \(values)") }
        case "long", "integer":
            let number = try #require(Int(text), "\(path): \(text) is not a number")
            if let max = s["max"] as? Int { #expect(number <= max, "\(path): above \(max)") }
            if let min = s["min"] as? Int { #expect(number >= min, "\(path): below \(min)") }
        case "boolean":
            #expect(text == "true" || text == "false", "\(path): \(text) is not a boolean")
        default:
            Issue.record("\(path): a \(s["type"] ?? "?") where a value was sent")
        }
    }

    /// Children in the order of the structure's members, only known members, required ones present.
    static func checkStructure(_ node: XMLNode, shape: String, shapes: [String: [String: Any]], at path: String) throws {
        let s = try #require(shapes[shape], "\(path): shape \(shape) is in the extract")
        switch s["type"] as? String {
        case "structure":
            let members = s["members"] as? [String: [String: Any]] ?? [:]
            // botocore keeps members in document order; JSONSerialization loses it, so the order is
            // checked against the published syntax for the structures Lifeboat sends.
            let order: [String: [String]] = ["ResourceRecordSet": ["Name", "Type", "SetIdentifier", "Weight", "Region", "GeoLocation", "Failover",
                                                                   "MultiValueAnswer", "TTL", "ResourceRecords", "AliasTarget", "HealthCheckId",
                                                                   "TrafficPolicyInstanceId"],
                                             "Change": ["Action", "ResourceRecordSet"], "ChangeBatch": ["Comment", "Changes"]]
            for child in node.children {
                guard let member = members[child.name], member["location"] == nil else {
                    Issue.record("\(path)/\(child.name) is not a member of \(shape)")
                    continue
                }
                try checkStructure(child, shape: member["shape"] as? String ?? "", shapes: shapes, at: "\(path)/\(child.name)")
            }
            if let expected = order[shape] {
                let names = node.children.map(\.name)
                #expect(names == expected.filter(names.contains), "\(path): elements out of the documented order: \(names)")
            }
            for required in s["required"] as? [String] ?? [] where members[required]?["location"] == nil {
                #expect(node.child(required) != nil, "\(path): required \(required) missing")
            }
        case "list":
            let member = try #require(s["member"] as? [String: Any])
            let items = node.children
            #expect(items.allSatisfy { $0.name == member["locationName"] as? String }, "\(path): list members must be <\(member["locationName"] ?? "")>")
            if let min = s["min"] as? Int { #expect(items.count >= min, "\(path): fewer than \(min) items") }
            if let max = s["max"] as? Int { #expect(items.count <= max, "\(path): more than \(max) items") }
            for (i, item) in items.enumerated() {
                try checkStructure(item, shape: member["shape"] as? String ?? "", shapes: shapes, at: "\(path)[\(i)]")
            }
        default:
            #expect(node.children.isEmpty, "\(path) holds elements where the model has a value")
            try checkValue(node.text, shape: shape, shapes: shapes, at: path)
        }
    }
}
