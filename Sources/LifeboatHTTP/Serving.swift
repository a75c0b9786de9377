import Logging
import ServiceLifecycle

/// Runs an HTTP server so that cancelling it shuts it down *gracefully*: it stops accepting, then
/// finishes what it has accepted. Cancelling a Hummingbird server directly can leave a connection
/// accepted but never served, and SwiftNIO traps on that ("Deinited NIOAsyncWriter without
/// calling finish()", apple/swift-nio#3481) — a crash of the monitor or agent when it stops, or
/// of the drill that stops them. The server runs in a task of its own that cancellation does not
/// reach; cancellation and a graceful shutdown of the caller's service group both turn into a
/// graceful shutdown of it, bounded by `grace` (after which it is cancelled after all).
public struct GracefulServer: Service {
    let server: any Service
    let grace: Duration
    let logger: Logger

    public init(_ server: any Service, grace: Duration = .seconds(5), logger: Logger) {
        self.server = server
        self.grace = grace
        self.logger = logger
    }

    public func run() async throws {
        var configuration = ServiceGroupConfiguration(services: [.init(service: server)], logger: logger)
        configuration.maximumGracefulShutdownDuration = grace
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await running.value
            } onGracefulShutdown: {
                Task { await group.triggerGracefulShutdown() }
            }
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
    }
}
