import Foundation
import LifeboatSandbox
import Logging

/// A real PostgreSQL cluster for a test: started, handed to `body`, always destroyed.
public func withSandboxCluster<T>(regions: [String] = ["us-east", "eu-west"], _ body: (SandboxCluster) async throws -> T) async throws -> T {
    let installation = try await PostgresInstallation.ensure(install: true, log: { print($0) })
    let cluster = try SandboxCluster(regions: regions, installation: installation)
    do {
        try await cluster.start()
        let result = try await body(cluster)
        await cluster.destroy()
        return result
    } catch {
        await cluster.destroy()
        throw error
    }
}

/// Silent, unless LIFEBOAT_TEST_LOG names a level (debugging a test: LIFEBOAT_TEST_LOG=info).
public func testLogger(_ label: String = "test") -> Logger {
    if let level = ProcessInfo.processInfo.environment["LIFEBOAT_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
    var logger = Logger(label: label) { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}
