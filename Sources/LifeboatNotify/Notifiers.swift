import AsyncHTTPClient
import Crypto
import Foundation
import LifeboatCore
import LifeboatPorts
import NIOCore

public struct NotifyError: Error, CustomStringConvertible, Sendable {
    public var channel: String
    public var reason: String
    public var description: String { "\(channel): \(reason)" }
}

/// POSTs JSON with a timeout; the URL is a secret (Slack's carries a token) and never printed.
struct JSONPoster: Sendable {
    var http: HTTPClient = .shared
    var timeout: Duration = .seconds(5)

    func post(_ url: String, body: Data, headers: [(String, String)] = [], channel: String) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "lifeboat")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
        } catch {
            throw NotifyError(channel: channel, reason: "not delivered (\(type(of: error)): \(String(describing: error).prefix(120)))")
        }
        _ = try? await response.body.collect(upTo: 1 << 16)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw NotifyError(channel: channel, reason: "the receiver answered \(response.status.code)")
        }
    }
}

/// A Slack incoming webhook: `{"text": "..."}`.
public struct SlackNotifier: Notifier {
    private let webhookURL: String
    private let cluster: String
    private let poster: JSONPoster

    public init(webhookURL: String, cluster: String, timeout: Duration = .seconds(5)) {
        self.webhookURL = webhookURL
        self.cluster = cluster
        self.poster = JSONPoster(timeout: timeout)
    }

    public var channel: String { "slack" }

    public func send(_ n: Notice) async throws {
        let icon = switch (n.action, n.severity) {
        case (.resolve, _): ":white_check_mark:"
        case (_, .critical): ":rotating_light:"
        case (_, .warning): ":warning:"
        case (_, .info): ":information_source:"
        }
        let body = try JSONEncoder().encode(["text": "\(icon) [lifeboat \(cluster)] \(n.summary)"])
        try await poster.post(webhookURL, body: body, channel: channel)
    }
}

/// PagerDuty Events API v2: trigger on a failover's start, resolve on its completion, with one
/// stable dedup_key per failover (per epoch).
public struct PagerDutyNotifier: Notifier {
    private let routingKey: String
    private let url: String
    private let cluster: String
    private let source: String
    private let poster: JSONPoster

    public init(routingKey: String, cluster: String, source: String, url: String = "https://events.pagerduty.com/v2/enqueue",
                timeout: Duration = .seconds(5)) {
        self.routingKey = routingKey
        self.url = url
        self.cluster = cluster
        self.source = source
        self.poster = JSONPoster(timeout: timeout)
    }

    public var channel: String { "pagerduty" }

    struct Event: Encodable {
        struct Payload: Encodable {
            var summary: String
            var source: String
            var severity: String
            var component: String
            var group: String
            var customDetails: [String: String]

            enum CodingKeys: String, CodingKey {
                case summary, source, severity, component, group
                case customDetails = "custom_details"
            }
        }
        var routingKey: String
        var eventAction: String
        var dedupKey: String
        var payload: Payload?

        enum CodingKeys: String, CodingKey {
            case payload
            case routingKey = "routing_key", eventAction = "event_action", dedupKey = "dedup_key"
        }
    }

    public func send(_ n: Notice) async throws {
        let severity = switch n.severity {
        case .critical: "critical"
        case .warning: "warning"
        case .info: "info"
        }
        let payload = n.action == .trigger
            ? Event.Payload(summary: String(n.summary.prefix(1024)), source: source, severity: severity, component: "postgresql",
                            group: cluster, customDetails: ["epoch": String(n.epoch.value)])
            : nil
        let event = Event(routingKey: routingKey, eventAction: n.action.rawValue, dedupKey: n.dedupKey, payload: payload)
        try await poster.post(url, body: try JSONEncoder().encode(event), channel: channel)
    }
}

/// A generic JSON webhook, signed: `X-Lifeboat-Signature: sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))`
/// and `X-Lifeboat-Timestamp` (Unix seconds), so receivers can check origin and freshness.
public struct WebhookNotifier: Notifier {
    private let url: String
    private let secret: [UInt8]
    private let cluster: String
    private let poster: JSONPoster
    private let now: @Sendable () -> Int

    public init(url: String, secret: String, cluster: String, timeout: Duration = .seconds(5),
                now: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }) {
        self.url = url
        self.secret = Array(secret.utf8)
        self.cluster = cluster
        self.poster = JSONPoster(timeout: timeout)
        self.now = now
    }

    public var channel: String { "webhook" }

    struct Body: Encodable {
        var cluster: String
        var action: String
        var severity: String
        var summary: String
        var dedupKey: String
        var epoch: UInt64
        var timestamp: Int

        enum CodingKeys: String, CodingKey {
            case cluster, action, severity, summary, epoch, timestamp
            case dedupKey = "dedup_key"
        }
    }

    public func send(_ n: Notice) async throws {
        let timestamp = now()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = try encoder.encode(Body(cluster: cluster, action: n.action.rawValue, severity: n.severity.rawValue, summary: n.summary,
                                           dedupKey: n.dedupKey, epoch: n.epoch.value, timestamp: timestamp))
        let signature = Self.signature(secret: secret, timestamp: timestamp, body: body)
        try await poster.post(url, body: body, headers: [("X-Lifeboat-Signature", "sha256=" + signature), ("X-Lifeboat-Timestamp", String(timestamp))],
                              channel: channel)
    }

    public static func signature(secret: [UInt8], timestamp: Int, body: Data) -> String {
        let message = Data("\(timestamp).".utf8) + body
        return HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret)).map { String(format: "%02x", $0) }.joined()
    }
}
