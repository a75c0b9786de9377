import ArgumentParser
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatEngine
import LifeboatMonitor
import Logging
import Metrics
import Prometheus

extension Lifeboat {
    struct Monitor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch the regions and fail over when the primary is lost (the long-running daemon).",
            discussion: """
                Probes every database node, decides with the failover state machine, and carries out \
                failovers (fence, promote, repoint, switch DNS). Every decision and step is journaled in \
                the state file, which also holds the fencing epoch and where a failover stands: a monitor \
                killed mid-failover finishes it on restart without a second promotion or epoch bump. \
                Stops cleanly on SIGTERM or SIGINT. Logs go to stderr.
                """
        )

        @Option(name: [.short, .long], help: "The config file.")
        var config: String = "/etc/lifeboat/lifeboat.yml"

        @Option(help: "The state file (SQLite), created with owner-only permissions.")
        var state: String = "/var/lib/lifeboat/state.db"

        @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
        var logLevel: Logger.Level = .info

        func run() async throws {
            let loaded = try loadingConfig { try ConfigLoader.load(path: config) }
            bootstrapLogging(logLevel)
            let logger = Logger(label: "lifeboat.monitor")
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            for warning in loaded.warnings { logger.warning("\(warning.description)") }
            let assembly: MonitorAssembly
            do {
                assembly = try MonitorAssembly(config: loaded, statePath: state, logger: logger, options: .init(
                    engine: Engine.Settings(afterStep: Self.crashHookForTests()), metrics: registry))
            } catch {
                printError("lifeboat monitor: \(error)")
                throw ExitCode(1)
            }
            do {
                try await assembly.run()
            } catch {
                printError("lifeboat monitor: \(error)")
                throw ExitCode(1)
            }
        }

        /// `LIFEBOAT_TEST_CRASH_AFTER_STEP=promote` makes the process exit (status 70) right after
        /// that workflow step succeeded: the crash-resume tests kill the monitor at every step this way.
        static func crashHookForTests() -> (@Sendable (FailoverStep) -> Void)? {
            guard let name = ProcessInfo.processInfo.environment["LIFEBOAT_TEST_CRASH_AFTER_STEP"],
                  let step = FailoverStep(rawValue: name) else { return nil }
            return { finished in
                if finished == step { _exit(70) }
            }
        }
    }
}
