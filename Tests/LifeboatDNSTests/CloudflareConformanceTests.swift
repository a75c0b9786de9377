import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPorts
import LifeboatTestSupport
import Testing
import Yams

/// The Cloudflare DNS switch against a stand-in, every request checked against Cloudflare's
/// published OpenAPI document (extract in Fixtures/): path, method, Bearer token, documented query
/// parameters within bounds, PATCH body fields that exist, are writable and have the right type.
@Suite struct CloudflareConformanceTests {
    static let zone = "023e105f4ecef8ad9ca31a8372d0c353"

    static func document() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/cloudflare-dns-records-subset.yaml")
        return try #require(try Yams.load(yaml: try String(contentsOf: url, encoding: .utf8)) as? [String: Any])
    }

    static func traffic(_ fake: FakeCloudflareAPI, token: String? = nil, targets: [String: [String]] = ["us": ["192.0.2.10"], "eu": ["198.51.100.21"]],
                        ttl: Int = 60) -> DNSTrafficSwitch {
        let client = CloudflareDNSClient(baseURL: fake.baseURL, zoneID: zone, token: Secret(token ?? fake.token), baseDelay: .milliseconds(10),
                                         maxDelay: .seconds(2), pageSize: 5)
        return DNSTrafficSwitch(provider: CloudflareProvider(client: client, record: "app.example.com"),
                                targets: targets.mapValues { $0.compactMap(IPv4.init) }, ttl: ttl, verifiers: [])
    }

    @Test func aSwitchFollowsThePublishedDocumentThroughPagesAndRateLimits() async throws {
        let doc = try Self.document()
        let fake = try await FakeCloudflareAPI(token: "cf-token", zoneID: Self.zone)
        defer { Task { await fake.stop() } }
        for i in 0..<7 { fake.addRecord(name: "h\(i).example.com", content: "203.0.113.\(i)") }
        fake.addRecord(name: "app.example.com", content: "192.0.2.10", ttl: 300)
        fake.addRecord(name: "app.example.com", content: "not-an-a", type: "TXT")
        // Past Cloudflare's rate limit: 429 with Retry-After (twice); the switch waits as asked and finishes.
        fake.inject(.rateLimited(retryAfter: 1), .rateLimited(retryAfter: 1))
        let traffic = Self.traffic(fake)
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await traffic.switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(2), timeout: .seconds(20), progress: { _ in })
        #expect(start.duration(to: clock.now) >= .seconds(2), "each Retry-After was waited out")
        #expect(result.changed)
        let app = fake.records.filter { $0.name == "app.example.com" && $0.type == "A" }
        #expect(app.map(\.content) == ["198.51.100.21"] && app.map(\.ttl) == [60])
        let requests = fake.requests
        #expect(requests.contains { $0.method == "PATCH" })
        #expect(requests.count == 6, "two 429s, then the read, the read before the write, the PATCH, the read back: \(requests.count) requests")
        try Self.check(requests, against: doc, token: "cf-token")

        // A second switch to the same region changes nothing.
        let before = fake.requests.filter { $0.method == "PATCH" }.count
        let again = try await traffic.switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(2), timeout: .seconds(20), progress: { _ in })
        #expect(!again.changed)
        #expect(fake.requests.filter { $0.method == "PATCH" }.count == before)
    }

    /// Someone else edits the record between Lifeboat's read and its write: compare-and-swap
    /// refuses, nothing is patched, and their value stays.
    @Test func aConcurrentChangeIsRefused() async throws {
        let fake = try await FakeCloudflareAPI(token: "cf-token", zoneID: Self.zone)
        defer { Task { await fake.stop() } }
        fake.addRecord(name: "app.example.com", content: "192.0.2.10")
        fake.change(afterRequest: 1) { records in
            if let i = records.firstIndex(where: { $0.name == "app.example.com" }) { records[i].content = "203.0.113.99" }
        }
        await #expect(throws: CloudflareAPIError.recordChanged(record: "app.example.com.", found: ["203.0.113.99"], expected: ["192.0.2.10"])) {
            try await Self.traffic(fake).switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(2), timeout: .seconds(5), progress: { _ in })
        }
        #expect(fake.requests.allSatisfy { $0.method == "GET" })
        #expect(fake.records.first?.content == "203.0.113.99")

        // Believing the wrong region is caught before any write, too.
        await #expect(throws: DNSSwitchError.self) {
            try await Self.traffic(fake).switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(2), timeout: .seconds(5), progress: { _ in })
        }
        #expect(fake.requests.allSatisfy { $0.method == "GET" })
    }

    @Test func proxiedRecordsWrongTokensAndServerErrorsAreExplained() async throws {
        let fake = try await FakeCloudflareAPI(token: "cf-token", zoneID: Self.zone)
        defer { Task { await fake.stop() } }
        fake.addRecord(name: "app.example.com", content: "192.0.2.10", proxied: true)
        do {
            _ = try await Self.traffic(fake).switchTraffic(toRegion: "eu", fromRegion: "us", node: "pg-eu", epoch: Epoch(2), timeout: .seconds(5), progress: { _ in })
            Issue.record("a proxied record was switched")
        } catch {
            #expect("\(error)".contains("proxied"), "\(error)")
        }
        #expect(!fake.requests.contains { $0.method == "PATCH" })

        do {
            _ = try await Self.traffic(fake, token: "wrong-secret-token").point(to: "eu", from: nil, dryRun: true)
            Issue.record("a wrong token was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("403") && text.contains("DNS → Edit") && !text.contains("wrong-secret-token"), "\(text)")
        }

        // 5xx is retried; a lasting outage ends with the last answer named.
        fake.inject(.status(502, code: 10000, message: "Bad gateway"), .status(502), .status(502), .status(502), .status(502))
        do {
            _ = try await Self.traffic(fake).point(to: "eu", from: nil, dryRun: true)
            Issue.record("an outage went unnoticed")
        } catch {
            #expect("\(error)".contains("5 attempts") && "\(error)".contains("502"), "\(error)")
        }
    }

    // MARK: The check against the document

    static func resolve(_ value: Any?, in doc: [String: Any]) -> [String: Any]? { OpenAPIRef.resolve(value, in: doc) }

    /// Every property of an A record a PATCH may carry, from `dns-record` → `ARecord` → allOf.
    static func recordProperties(_ doc: [String: Any]) throws -> [String: [String: Any]] {
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let record = try #require(schemas["dns-record-6sTUiFDT"] as? [String: Any])
        var properties: [String: [String: Any]] = [:]
        for variant in (record["oneOf"] as? [Any] ?? []).compactMap({ resolve($0, in: doc) }) {
            for part in (variant["allOf"] as? [Any] ?? []).compactMap({ resolve($0, in: doc) }) {
                for (key, value) in part["properties"] as? [String: Any] ?? [:] { properties[key] = resolve(value, in: doc) ?? [:] }
            }
        }
        return properties
    }

    static func check(_ requests: [RecordedRequest], against doc: [String: Any], token: String) throws {
        let paths = try #require(doc["paths"] as? [String: Any])
        let base = try #require((doc["servers"] as? [[String: Any]])?.first?["url"] as? String)
        #expect(base == "https://api.cloudflare.com/client/v4")
        let properties = try recordProperties(doc)
        for request in requests {
            #expect(request.path.hasPrefix("/client/v4/"), "served under the v4 base URL: \(request.path)")
            let path = String(request.path.dropFirst("/client/v4".count))
            let parts = path.split(separator: "/")
            guard let template = paths.keys.first(where: { key in
                let keyParts = key.split(separator: "/")
                return keyParts.count == parts.count && zip(keyParts, parts).allSatisfy { k, p in k.hasPrefix("{") || k == p }
            }), let item = paths[template] as? [String: Any], let operation = item[request.method.lowercased()] as? [String: Any] else {
                Issue.record("\(request.method) \(path) is not in Cloudflare's document")
                continue
            }
            #expect(request.headers["authorization"] == "Bearer \(token)", "API tokens are sent as a Bearer token")
            // Identifiers in the path: 32 lower-case hex digits (Cloudflare's `identifier`).
            for (k, p) in zip(template.split(separator: "/"), parts) where k.hasPrefix("{") {
                #expect(p.utf8.count == 32 && p.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(k) = \(p)")
            }
            let parameters = (operation["parameters"] as? [Any] ?? []).compactMap { resolve($0, in: doc) }
            for (name, value) in request.query {
                guard let parameter = parameters.first(where: { $0["name"] as? String == name && $0["in"] as? String == "query" }) else {
                    Issue.record("query parameter \(name) is not documented for \(request.method) \(template)")
                    continue
                }
                let schema = resolve(parameter["schema"], in: doc) ?? [:]
                if schema["type"] as? String == "number" {
                    let number = try #require(Int(value), "\(name) must be a number")
                    if let minimum = schema["minimum"] as? Int { #expect(number >= minimum, "\(name)=\(number) below \(minimum)") }
                    if let maximum = schema["maximum"] as? Int { #expect(number <= maximum, "\(name)=\(number) above \(maximum)") }
                }
                if name == "type" { #expect(value == "A") }
                if name == "name" { #expect(value.hasSuffix(".example.com") && !value.hasSuffix("."), "name is the FQDN without the root dot: \(value)") }
                if name == "page" { #expect((Int(value) ?? 0) >= 1, "page starts at 1") }
            }
            if request.method == "PATCH" {
                let body = try #require(request.body)
                let content = (operation["requestBody"] as? [String: Any])?["content"] as? [String: Any]
                #expect((content?["application/json"] as? [String: Any])?["schema"] != nil, "PATCH takes application/json")
                #expect(request.headers["content-type"] == "application/json")
                let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
                for (key, value) in object {
                    guard let property = properties[key] else {
                        Issue.record("body field \(key) is not a property of an A record")
                        continue
                    }
                    #expect(property["readOnly"] as? Bool != true, "\(key) is read-only: not to be sent")
                    if key == "content" {
                        #expect(property["format"] as? String == "ipv4")
                        #expect((value as? String).flatMap(IPv4.init) != nil, "content must be an IPv4 address: \(value)")
                    }
                    if key == "ttl" {
                        let ttl = try #require(value as? Int, "ttl must be a number")
                        let options = property["anyOf"] as? [[String: Any]] ?? []
                        let allowed = options.contains { option in
                            if let values = option["enum"] as? [Int] { return values.contains(ttl) }
                            return ttl >= (option["minimum"] as? Int ?? .min) && ttl <= (option["maximum"] as? Int ?? .max)
                        }
                        #expect(allowed, "ttl \(ttl) is outside the document's anyOf")
                    }
                }
            } else {
                #expect(request.body == nil, "\(request.method) carries no body")
            }
        }
    }
}
