import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatDNS
import LifeboatPorts
import LifeboatTestSupport
import Testing

/// The Linode provider against a local server that follows Linode's published API document.
@Suite struct LinodeProviderTests {
    let targets = ["us-east": [IPv4("192.0.2.10")!], "eu-west": [IPv4("198.51.100.21")!]]

    func makeFake(fillerDomains: Int = 0, fillerRecords: Int = 0) async throws -> (FakeLinodeAPI, Int, Int) {
        let fake = try await FakeLinodeAPI(token: "test-token-\(UUID().uuidString)")
        for i in 0..<fillerDomains { fake.addDomain("filler\(i).example") }
        let domain = fake.addDomain("example.com")
        for i in 0..<fillerRecords { fake.addRecord(domain: domain, name: "host\(i)", target: "203.0.113.\(i % 250)") }
        fake.addRecord(domain: domain, type: "AAAA", name: "app", target: "2001:db8::1")
        let record = fake.addRecord(domain: domain, name: "app", target: "192.0.2.10", ttlSec: 3600)
        return (fake, domain, record)
    }

    func provider(_ fake: FakeLinodeAPI, token: String? = nil, pageSize: Int = 500) -> LinodeProvider {
        let client = LinodeDomainsClient(baseURL: fake.baseURL, token: Secret(token ?? fake.token), maxAttempts: 4,
                                         baseDelay: .milliseconds(20), pageSize: pageSize)
        return LinodeProvider(client: client, zone: "example.com", relativeName: "app")
    }

    @Test func aFullSwitchFollowsPaginationAndUpdatesOnlyTargetAndTTL() async throws {
        let (fake, domain, record) = try await makeFake(fillerDomains: 60, fillerRecords: 60)
        defer { Task { await fake.stop() } }
        let traffic = DNSTrafficSwitch(provider: provider(fake, pageSize: 25), targets: targets, ttl: 300, verifiers: [])
        let result = try await traffic.switchTraffic(toRegion: "eu-west", fromRegion: "us-east", node: "pg-eu-west", epoch: Epoch(1),
                                                     timeout: .seconds(10), progress: { _ in })
        #expect(result.changed)
        let detail = result.detail
        #expect(detail.hasPrefix("DNS switched: app.example.com. from 192.0.2.10 to 198.51.100.21, TTL 300s"))
        #expect(detail.hasSuffix("resolvers may keep the old answer for up to 3600s (its TTL)"))
        let stored = try #require(fake.records(domain: domain).first { $0.id == record })
        #expect(stored.target == "198.51.100.21")
        #expect(stored.ttlSec == 300)
        #expect(fake.records(domain: domain).first { $0.type == "AAAA" }?.target == "2001:db8::1", "other records untouched")
        let recordPages = fake.requests.filter { $0.path == "/v4/domains/\(domain)/records" }.map { $0.query["page"] ?? "" }
        #expect(recordPages.contains("2") && recordPages.contains("3"), "61+ records at 25 a page take 3 pages: \(recordPages)")
        let domainLookups = fake.requests.filter { $0.path == "/v4/domains" }
        #expect(domainLookups.allSatisfy { $0.headers["x-filter"] == #"{"domain":"example.com"}"# })
        let put = try #require(fake.requests.first { $0.method == "PUT" })
        #expect(put.path == "/v4/domains/\(domain)/records/\(record)")
        let body = try #require(put.body.flatMap { try JSONSerialization.jsonObject(with: $0) as? [String: Any] })
        #expect(Set(body.keys) == ["target", "ttl_sec"])
    }

    @Test func a429IsRetriedAfterRetryAfter() async throws {
        let (fake, _, _) = try await makeFake()
        defer { Task { await fake.stop() } }
        fake.inject(.status(429, retryAfter: 1, reason: "Too many requests"))
        let started = ContinuousClock.now
        let current = try await provider(fake).currentTargets()
        #expect(current.targets == [IPv4("192.0.2.10")!])
        #expect(started.duration(to: .now) >= .seconds(1), "Retry-After: 1 was honoured")
        #expect(fake.requests.count == 3, "the 429, its retry, then the records")
    }

    @Test func a500AndASlowAnswerAreRetried() async throws {
        let (fake, _, _) = try await makeFake()
        defer { Task { await fake.stop() } }
        fake.inject(.status(500, reason: "Internal error"), .delay(.milliseconds(200)))
        #expect(try await provider(fake).currentTargets().targets == [IPv4("192.0.2.10")!])
    }

    @Test func a401FailsFastWithLinodesReason() async throws {
        let (fake, _, _) = try await makeFake()
        defer { Task { await fake.stop() } }
        await #expect(throws: LinodeAPIError.rejected(status: 401, reasons: ["Invalid Token"])) {
            try await provider(fake, token: "wrong").currentTargets()
        }
        #expect(fake.requests.count == 1, "never retried")
        let message = LinodeAPIError.rejected(status: 401, reasons: ["Invalid Token"]).description
        #expect(message == "Linode answered 401 (the token is wrong or expired): Invalid Token")
    }

    @Test func a400IsNotRetriedAndNamesTheField() async throws {
        let (fake, _, _) = try await makeFake()
        defer { Task { await fake.stop() } }
        let p = provider(fake)
        fake.inject(.status(404, reason: "Not found"))
        await #expect(throws: LinodeAPIError.rejected(status: 404, reasons: ["Not found"])) { try await p.currentTargets() }
        #expect(fake.requests.count == 1)
    }

    /// What to retry is read off the status code the document defines, never off the words of
    /// a reason: a 400 is a bad request whatever it says.
    @Test func a400IsNotRetriedWhateverItsReasonSays() async throws {
        let (fake, _, _) = try await makeFake()
        defer { Task { await fake.stop() } }
        fake.inject(.status(400, reason: "Linode busy."))
        await #expect(throws: LinodeAPIError.rejected(status: 400, reasons: ["Linode busy."])) { try await provider(fake).currentTargets() }
        #expect(fake.requests.count == 1)
    }

    @Test func aTTLLinodeRoundsIsCaughtInTheAnswer() async throws {
        let (fake, domain, record) = try await makeFake()
        defer { Task { await fake.stop() } }
        await #expect(throws: LinodeAPIError.ttlNotApplied(sent: 60, stored: 300)) {
            _ = try await provider(fake).replaceTargets(expected: [IPv4("192.0.2.10")!], with: [IPv4("198.51.100.21")!], ttl: 60)
        }
        #expect(fake.records(domain: domain).first { $0.id == record }?.ttlSec == 300)
    }

    @Test func compareAndSwapRefusesAChangedRecord() async throws {
        let (fake, domain, record) = try await makeFake()
        defer { Task { await fake.stop() } }
        await #expect(throws: LinodeAPIError.recordChanged(record: "app.example.com.", found: ["192.0.2.10"], expected: ["192.0.2.99"])) {
            _ = try await provider(fake).replaceTargets(expected: [IPv4("192.0.2.99")!], with: [IPv4("198.51.100.21")!], ttl: 300)
        }
        #expect(fake.records(domain: domain).first { $0.id == record }?.target == "192.0.2.10")
        #expect(!fake.requests.contains { $0.method == "PUT" })
    }

    @Test func theTokenNeverAppearsInErrors() async throws {
        let (fake, _, _) = try await makeFake()
        defer { Task { await fake.stop() } }
        fake.inject(.status(500), .status(500), .status(500), .status(500))
        do {
            _ = try await provider(fake).currentTargets()
            Issue.record("expected retries to run out")
        } catch {
            #expect(!"\(error)".contains(fake.token))
            #expect("\(error)".hasPrefix("Linode did not succeed after 4 attempts (last: 500 Please try again)"))
        }
    }
}
