/// Polls `condition` until it holds, or throws `WaitTimedOut` (which the test records) after `timeout`.
public func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimedOut(what: what, after: timeout)
}

public struct WaitTimedOut: Error, CustomStringConvertible {
    public var what: String
    public var after: Duration
    public init(what: String, after: Duration) {
        self.what = what
        self.after = after
    }
    public var description: String { "timed out waiting for \(what) (\(after))" }
}
