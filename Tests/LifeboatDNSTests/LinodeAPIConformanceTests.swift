import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPorts
import LifeboatTestSupport
import Testing
import Yams

/// Every request the Linode provider sends, checked against Linode's published OpenAPI document
/// (v4.176.0 extract in Fixtures/): path, method, query parameters, body fields and their types.
@Suite struct LinodeAPIConformanceTests {
    static func document() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/linode-api-v4.176.0-subset.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    static func resolve(_ value: Any?, in doc: [String: Any]) -> [String: Any]? { OpenAPIRef.resolve(value, in: doc) }

    static func template(matching path: String, in paths: [String: Any]) -> String? {
        let parts = path.split(separator: "/")
        return paths.keys.first { key in
            let keyParts = key.split(separator: "/")
            return keyParts.count == parts.count && zip(keyParts, parts).allSatisfy { k, p in k.hasPrefix("{") || k == p }
        }
    }

    @Test func everyRequestFollowsThePublishedDocument() async throws {
        let doc = try Self.document()
        let paths = try #require(doc["paths"] as? [String: Any])
        let servers = try #require(doc["servers"] as? [[String: Any]])
        #expect(servers.contains { $0["url"] as? String == "https://api.linode.com/v4" })

        // Exercise the provider: lookups with pagination and X-Filter, a switch, a retry.
        let fake = try await FakeLinodeAPI(token: "conformance-token")
        defer { Task { await fake.stop() } }
        let domain = fake.addDomain("example.com")
        for i in 0..<30 { fake.addRecord(domain: domain, name: "h\(i)", target: "203.0.113.\(i)") }
        fake.addRecord(domain: domain, name: "app", target: "192.0.2.10")
        fake.inject(.status(429, retryAfter: 0))
        let client = LinodeDomainsClient(baseURL: fake.baseURL, token: Secret(fake.token), baseDelay: .milliseconds(10), pageSize: 25)
        let provider = LinodeProvider(client: client, zone: "example.com", relativeName: "app")
        let traffic = DNSTrafficSwitch(provider: provider, targets: ["a": [IPv4("192.0.2.10")!], "b": [IPv4("198.51.100.21")!]], ttl: 3600, verifiers: [])
        _ = try await traffic.switchTraffic(toRegion: "b", fromRegion: "a", node: "n", epoch: Epoch(1), timeout: .seconds(5), progress: { _ in })

        let requests = fake.requests
        #expect(requests.count >= 6)
        try Self.check(requests, against: doc, token: "conformance-token")
        #expect(requests.contains { $0.method == "PUT" })
    }

    /// Hard fencing's requests: an instance read, a shutdown without a body, reads until offline.
    @Test func powerOffFollowsThePublishedDocument() async throws {
        let doc = try Self.document()
        let fake = try await FakeLinodeAPI(token: "conformance-token")
        defer { Task { await fake.stop() } }
        fake.addInstance(4242, label: "pg-us-east-1", shutdownTakes: .milliseconds(300))
        fake.inject(.status(503))
        let power = LinodePowerSwitch(client: LinodeInstancesClient(baseURL: fake.baseURL, token: Secret(fake.token), baseDelay: .milliseconds(10)),
                                      instances: ["pg-us-east-1": 4242], pollEvery: .milliseconds(50))
        #expect(power.covers("pg-us-east-1") && !power.covers("pg-eu-west-1"))
        let outcome = try await power.powerOff("pg-us-east-1", wait: .seconds(30))
        guard case .off(let detail) = outcome else { Issue.record("\(outcome)"); return }
        #expect(detail.contains("4242"))
        #expect(fake.instanceStatus(4242) == "offline")
        let requests = fake.requests
        #expect(requests.filter { $0.method == "POST" }.map(\.path) == ["/v4/linode/instances/4242/shutdown"])
        #expect(requests.filter { $0.method == "POST" }.allSatisfy { ($0.body ?? Data()).isEmpty })
        try Self.check(requests, against: doc, token: "conformance-token")
        // Already offline: nothing more is asked of the API.
        let before = fake.requests.count
        #expect(try await power.powerOff("pg-us-east-1", wait: .seconds(1)) == .off(detail: "Linode 4242 is offline"))
        #expect(fake.requests.count == before + 1)
        // A wait of zero asks for the shutdown and does not wait for it.
        fake.addInstance(7, label: "pg-b", shutdownTakes: .seconds(30))
        let power7 = LinodePowerSwitch(client: LinodeInstancesClient(baseURL: fake.baseURL, token: Secret(fake.token)), instances: ["b": 7])
        guard case .requested = try await power7.powerOff("b", wait: .zero) else { Issue.record("waited"); return }
        #expect(fake.instanceStatus(7) == "shutting_down")
        // A wrong token is refused and never retried.
        let wrong = LinodePowerSwitch(client: LinodeInstancesClient(baseURL: fake.baseURL, token: Secret("nope")), instances: ["b": 7])
        let count = fake.requests.count
        await #expect(throws: LinodeAPIError.self) { try await wrong.powerOff("b", wait: .seconds(1)) }
        #expect(fake.requests.count == count + 1)
    }

    /// Each request: under /v4, a documented path and method, the Bearer token, documented query
    /// parameters within bounds, filters on filterable fields only, body fields of the right type.
    /// The NodeBalancer switch: the new region's backend accepts before the old one is set to
    /// reject; every request follows the published document; a second call changes nothing; a
    /// NodeBalancer someone else changed is left alone.
    @Test func theNodeBalancerSwitchFollowsThePublishedDocument() async throws {
        let doc = try Self.document()
        let fake = try await FakeLinodeAPI(token: "nb-token")
        defer { Task { await fake.stop() } }
        fake.addBalancerNode(111, nodeBalancer: 12345, config: 4567, label: "web-us-east", address: "192.168.1.10:80", mode: "accept")
        fake.addBalancerNode(222, nodeBalancer: 12345, config: 4567, label: "web-eu-west", address: "192.168.2.10:80", mode: "reject")
        let nb = LinodeNodeBalancerSwitch(baseURL: fake.baseURL, token: Secret(fake.token), nodeBalancerID: 12345, configID: 4567,
                                          nodes: ["us-east": 111, "eu-west": 222], standbyMode: .drain, baseDelay: .milliseconds(10))
        let result = try await nb.switchTraffic(toRegion: "eu-west", fromRegion: "us-east", node: "pg-eu-west", epoch: Epoch(1), timeout: .seconds(5), progress: { _ in })
        #expect(result.changed)
        #expect(result.detail == "NodeBalancer 12345: eu-west accept, us-east drain (read back)")
        #expect(fake.balancerNode(222)?.mode == "accept" && fake.balancerNode(111)?.mode == "drain")
        let puts = fake.requests.filter { $0.method == "PUT" }.map(\.path)
        #expect(puts == ["/v4/nodebalancers/12345/configs/4567/nodes/222", "/v4/nodebalancers/12345/configs/4567/nodes/111"], "accept first, then drain: \(puts)")
        try Self.check(fake.requests, against: doc, token: "nb-token")

        let again = try await nb.switchTraffic(toRegion: "eu-west", fromRegion: "us-east", node: "pg-eu-west", epoch: Epoch(1), timeout: .seconds(5), progress: { _ in })
        #expect(!again.changed)
        #expect(fake.requests.filter { $0.method == "PUT" }.count == 2)

        // Someone set both to reject by hand: a switch back is not Lifeboat's to make.
        fake.addBalancerNode(222, nodeBalancer: 12345, config: 4567, label: "web-eu-west", address: "192.168.2.10:80", mode: "reject")
        await #expect(throws: NodeBalancerSwitchError.unexpectedModes(found: ["us-east": "drain", "eu-west": "reject"], expected: "eu-west accepting")) {
            try await nb.switchTraffic(toRegion: "us-east", fromRegion: "eu-west", node: "pg-us-east", epoch: Epoch(2), timeout: .seconds(5), progress: { _ in })
        }
        #expect(fake.balancerNode(111)?.mode == "drain" && fake.balancerNode(222)?.mode == "reject")

        // A wrong token: refused, not retried, and the token not shown.
        let wrong = LinodeNodeBalancerSwitch(baseURL: fake.baseURL, token: Secret("wrong-token"), nodeBalancerID: 12345, configID: 4567,
                                             nodes: ["us-east": 111, "eu-west": 222], baseDelay: .milliseconds(10))
        do {
            _ = try await wrong.modes()
            Issue.record("a wrong token was accepted")
        } catch {
            #expect("\(error)".contains("401") && !"\(error)".contains("wrong-token"), "\(error)")
        }
    }

    static func check(_ requests: [RecordedRequest], against doc: [String: Any], token: String) throws {
        let paths = try #require(doc["paths"] as? [String: Any])
        for request in requests {
            #expect(request.path.hasPrefix("/v4/"), "served under the v4 base URL: \(request.path)")
            let path = String(request.path.dropFirst(3))
            guard let template = Self.template(matching: path, in: paths), let item = paths[template] as? [String: Any],
                  let operation = item[request.method.lowercased()] as? [String: Any] else {
                Issue.record("\(request.method) \(path) is not in Linode's document")
                continue
            }
            #expect(request.headers["authorization"] == "Bearer \(token)", "personalAccessToken is a Bearer token")
            let parameters = ((operation["parameters"] as? [Any] ?? []) + (item["parameters"] as? [Any] ?? [])).compactMap { Self.resolve($0, in: doc) }
            for (name, value) in request.query {
                guard let parameter = parameters.first(where: { $0["name"] as? String == name && $0["in"] as? String == "query" }) else {
                    Issue.record("query parameter \(name) is not documented for \(request.method) \(template)")
                    continue
                }
                let schema = parameter["schema"] as? [String: Any] ?? [:]
                let number = try #require(Int(value), "\(name) must be an integer")
                if let minimum = schema["minimum"] as? Int { #expect(number >= minimum, "\(name)=\(number) below \(minimum)") }
                if let maximum = schema["maximum"] as? Int { #expect(number <= maximum, "\(name)=\(number) above \(maximum)") }
            }
            if let filter = request.headers["x-filter"] {
                // Filters may only name fields marked x-linode-filterable on the listed object.
                let object = try #require(try JSONSerialization.jsonObject(with: Data(filter.utf8)) as? [String: Any])
                let schemas = (doc["components"] as? [String: Any])?["schemas"] as? [String: Any]
                let listed = template == "/domains" ? "Domain" : "DomainRecord"
                let properties = ((schemas?[listed] as? [String: Any])?["properties"] as? [String: Any]) ?? [:]
                for key in object.keys {
                    #expect((properties[key] as? [String: Any])?["x-linode-filterable"] as? Bool == true, "X-Filter on \(key) of \(listed)")
                }
            }
            if let body = request.body {
                let schema = try #require(Self.resolve(((operation["requestBody"] as? [String: Any])?["content"] as? [String: Any])
                    .flatMap { ($0["application/json"] as? [String: Any])?["schema"] }, in: doc))
                let properties = try #require(schema["properties"] as? [String: Any])
                let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
                for (key, value) in object {
                    guard let property = Self.resolve(properties[key], in: doc) else {
                        Issue.record("body field \(key) is not in \(request.method) \(template)'s request schema")
                        continue
                    }
                    switch property["type"] as? String {
                    case "integer": #expect(value is Int, "\(key) must be an integer")
                    case "string": #expect(value is String, "\(key) must be a string")
                    default: break
                    }
                    #expect(property["readOnly"] as? Bool != true, "\(key) is read-only in \(template)'s schema: not to be sent")
                    if let allowed = property["enum"] as? [String] {
                        #expect((value as? String).map(allowed.contains) == true, "\(key) = \(value) is not one of \(allowed)")
                    }
                    if key == "ttl_sec", let ttl = value as? Int {
                        #expect([300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1_209_600, 2_419_200].contains(ttl),
                                "ttl_sec \(ttl) is not a value Linode accepts")
                    }
                }
            }
        }
    }
}
