import ArgumentParser
import Foundation
import Hummingbird
import LifeboatConfig
import Logging

extension Lifeboat {
    /// A region drill's application node: answers `GET /healthz` with 200 while it runs, as an
    /// application's health endpoint does. Not for operators (hidden from --help).
    struct DrillApp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drill-app",
            abstract: "A region drill's application node (used by lifeboat drill; serves GET /healthz).",
            shouldDisplay: false
        )

        @Option(help: "Listen on HOST:PORT (an IPv4 address).")
        var listen: String

        @Option(help: "Stop after this many seconds at most.")
        var maxSeconds = 1800

        func validate() throws {
            guard HostPort(parsing: listen, defaultPort: 0).map({ $0.port > 0 }) == true else {
                throw ValidationError("--listen must be an IPv4 address and port, such as 127.0.0.1:8080")
            }
            guard (1...86_400).contains(maxSeconds) else { throw ValidationError("--max-seconds must be between 1 and 86400") }
        }

        func run() async throws {
            guard let address = HostPort(parsing: listen, defaultPort: 0) else { return }
            let router = Router()
            router.get("/healthz") { _, _ in "ok\n" }
            let app = Application(router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: "drill-app"),
                                  logger: Logger(label: "drill-app") { _ in SwiftLogNoOpLogHandler() })
            // Bounded: the drill stops it with SIGKILL or SIGTERM long before this.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                group.addTask { try await Task.sleep(for: .seconds(maxSeconds)) }
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }
}
