import Crypto
import Foundation
import LifeboatCore
import LifeboatPorts
import LifeboatNotify
import LifeboatTestSupport
import Synchronization
import Testing

/// Each notifier against a local HTTP receiver that checks the payload's shape.
@Suite struct NotifierTests {
    final class RequestLog: Sendable {
        let requests = Mutex<[RecordedRequest]>([])
    }

    final class Receiver: Sendable {
        let log = RequestLog()
        let server: TestHTTPServer

        init(status: Int = 200, delay: Duration = .zero) async throws {
            let log = self.log
            server = try await TestHTTPServer { request in
                log.requests.withLock { $0.append(request) }
                if delay > .zero { try? await Task.sleep(for: delay) }
                return (status, [], Data("{}".utf8))
            }
        }

        var url: String { "http://127.0.0.1:\(server.port)/hook" }
        var received: [RecordedRequest] { log.requests.withLock { $0 } }
        func json(_ i: Int) throws -> [String: Any] {
            let body = try #require(received[i].body)
            return try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        }
    }

    let start = Notice(severity: .critical, summary: "failover started: pg-us-east -> pg-eu-west under epoch 1",
                       dedupKey: "lifeboat/shop/failover-epoch-1", action: .trigger, epoch: Epoch(1))
    let done = Notice(severity: .warning, summary: "failover complete: pg-eu-west is the primary under epoch 1",
                      dedupKey: "lifeboat/shop/failover-epoch-1", action: .resolve, epoch: Epoch(1))

    @Test func slackGetsText() async throws {
        let receiver = try await Receiver()
        defer { Task { await receiver.server.stop() } }
        try await SlackNotifier(webhookURL: receiver.url, cluster: "shop").send(start)
        let body = try receiver.json(0)
        #expect(Set(body.keys) == ["text"])
        #expect(body["text"] as? String == ":rotating_light: [lifeboat shop] failover started: pg-us-east -> pg-eu-west under epoch 1")
        #expect(receiver.received[0].headers["content-type"] == "application/json")
    }

    @Test func pagerDutyTriggersThenResolvesWithOneDedupKey() async throws {
        let receiver = try await Receiver(status: 202)
        defer { Task { await receiver.server.stop() } }
        let pd = PagerDutyNotifier(routingKey: "R0UTINGKEY0123456789012345678901", cluster: "shop", source: "lifeboat-monitor-1", url: receiver.url)
        try await pd.send(start)
        try await pd.send(done)
        let trigger = try receiver.json(0), resolve = try receiver.json(1)
        #expect(trigger["routing_key"] as? String == "R0UTINGKEY0123456789012345678901")
        #expect(trigger["event_action"] as? String == "trigger")
        #expect(trigger["dedup_key"] as? String == "lifeboat/shop/failover-epoch-1")
        let payload = try #require(trigger["payload"] as? [String: Any])
        #expect(payload["summary"] as? String == start.summary)
        #expect(payload["source"] as? String == "lifeboat-monitor-1")
        #expect(payload["severity"] as? String == "critical")
        #expect(Set(payload.keys).isSubset(of: ["summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"]))
        #expect(resolve["event_action"] as? String == "resolve")
        #expect(resolve["dedup_key"] as? String == trigger["dedup_key"] as? String)
        #expect(resolve["payload"] == nil, "resolve events carry no payload")
    }

    @Test func theWebhookIsSignedWithHMACSHA256() async throws {
        let receiver = try await Receiver()
        defer { Task { await receiver.server.stop() } }
        try await WebhookNotifier(url: receiver.url, secret: "s3cret", cluster: "shop", now: { 1_790_000_000 }).send(start)
        let request = receiver.received[0]
        let body = try #require(request.body)
        #expect(request.headers["x-lifeboat-timestamp"] == "1790000000")
        let mac = HMAC<SHA256>.authenticationCode(for: Data("1790000000.".utf8) + body, using: SymmetricKey(data: Data("s3cret".utf8)))
        #expect(request.headers["x-lifeboat-signature"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
        let json = try receiver.json(0)
        #expect(json["action"] as? String == "trigger" && json["epoch"] as? Int == 1 && json["cluster"] as? String == "shop")
        #expect(!String(decoding: body, as: UTF8.self).contains("s3cret"))
    }

    @Test func aFailingReceiverIsAnErrorThatHidesTheURL() async throws {
        let receiver = try await Receiver(status: 500)
        defer { Task { await receiver.server.stop() } }
        let secretURL = receiver.url + "/T000/B000/XXXXSECRET"
        do {
            try await SlackNotifier(webhookURL: secretURL, cluster: "shop").send(start)
            Issue.record("a 500 was taken for delivery")
        } catch {
            #expect("\(error)" == "slack: the receiver answered 500")
            #expect(!"\(error)".contains("XXXXSECRET"))
        }
    }

    @Test func aHangingReceiverTimesOut() async throws {
        let receiver = try await Receiver(delay: .seconds(30))
        defer { Task { await receiver.server.stop() } }
        let started = ContinuousClock.now
        await #expect(throws: NotifyError.self) {
            try await SlackNotifier(webhookURL: receiver.url, cluster: "shop", timeout: .milliseconds(300)).send(start)
        }
        // Far below the receiver's 30 s: the 300 ms timeout ended it (slack for a loaded CI machine).
        #expect(started.duration(to: .now) < .seconds(10))
    }
}
