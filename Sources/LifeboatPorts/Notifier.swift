import LifeboatCore

/// Something people are told: an alert, or the end of one.
public struct Notice: Sendable, Equatable {  // "Notification" would clash with Foundation's
    public enum Action: String, Sendable { case trigger, resolve }

    public var severity: AlertSeverity
    public var summary: String
    /// Groups a failover's start and completion (PagerDuty's dedup_key).
    public var dedupKey: String
    public var action: Action
    public var epoch: Epoch

    public init(severity: AlertSeverity, summary: String, dedupKey: String, action: Action, epoch: Epoch) {
        self.severity = severity
        self.summary = summary
        self.dedupKey = dedupKey
        self.action = action
        self.epoch = epoch
    }
}

/// A channel people are told through (Slack, PagerDuty, a webhook). Implementations must never
/// print their secret (webhook URL, routing key, signing secret).
public protocol Notifier: Sendable {
    var channel: String { get }
    func send(_ notification: Notice) async throws
}
