import Foundation
import LifeboatCore
import LifeboatEngine
import LifeboatNotify
import LifeboatPorts
import LifeboatPostgres
import LifeboatSandbox
import LifeboatTestSupport
import Synchronization
import Testing

/// Notifications during a real failover: one receiver hangs, one fails, one works — the failover
/// is not delayed, and the working one gets a trigger and a resolve with one dedup key.
@Suite(.serialized) struct FailoverNotificationTests {
    final class Log: Sendable {
        let raw = Mutex<[Data]>([])
        var bodies: [[String: Any]] { raw.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } }
    }

    @Test func notifiersThatHangOrFailNeverDelayTheFailover() async throws {
        let log = Log()
        let good = try await TestHTTPServer { request in
            if let body = request.body { log.raw.withLock { $0.append(body) } }
            return (202, [], Data("{}".utf8))
        }
        let hanging = try await TestHTTPServer { _ in
            try? await Task.sleep(for: .seconds(30))
            return (200, [], Data())
        }
        let failing = try await TestHTTPServer { _ in (500, [], Data()) }
        defer { Task { await good.stop(); await hanging.stop(); await failing.stop() } }

        try await withSandboxCluster { cluster in
            let fleet = try PostgresFleet(nodes: cluster.nodes.map(\.config), logger: testLogger())
            let notifiers: [any Notifier] = [
                SlackNotifier(webhookURL: "http://127.0.0.1:\(hanging.port)/slack", cluster: "shop", timeout: .seconds(20)),
                WebhookNotifier(url: "http://127.0.0.1:\(failing.port)/hook", secret: "x", cluster: "shop"),
                PagerDutyNotifier(routingKey: "key", cluster: "shop", source: "test", url: "http://127.0.0.1:\(good.port)/v2/enqueue"),
            ]
            let engine = Engine(topology: cluster.topology, detection: .default, policy: .default, fleet: fleet,
                                epochStore: InMemoryEpochStore(), clock: ContinuousClock(), logger: testLogger(),
                                notifiers: notifiers, cluster: "shop")
            let task = Task { try await engine.run() }
            defer { task.cancel() }
            try await waitFor("monitoring") { await engine.state == .monitoring(primary: cluster.primary.name) }
            try await waitFor("standby streaming") { await engine.health["pg-eu-west"]?.currentStatus?.isStreaming == true }

            let killedAt = ContinuousClock.now
            _ = try await cluster.kill(cluster.primary)
            try await waitFor("failover complete") { await engine.state == .monitoring(primary: "pg-eu-west") }
            // The hanging Slack receiver would hold a blocking notifier for its 20 s timeout.
            #expect(killedAt.duration(to: .now) < .seconds(15), "a hanging receiver (30 s) did not hold the failover up")

            try await waitFor("pagerduty resolve") { log.bodies.contains { $0["event_action"] as? String == "resolve" } }
            let events = log.bodies
            let trigger = try #require(events.first { $0["event_action"] as? String == "trigger" })
            let resolve = try #require(events.first { $0["event_action"] as? String == "resolve" })
            #expect(trigger["dedup_key"] as? String == "lifeboat/shop/failover-epoch-1")
            #expect(resolve["dedup_key"] as? String == trigger["dedup_key"] as? String)
            #expect(((trigger["payload"] as? [String: Any])?["summary"] as? String)?.hasPrefix("failover started: pg-us-east -> pg-eu-west") == true)
        }
    }
}
