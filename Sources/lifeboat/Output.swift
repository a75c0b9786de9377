import ArgumentParser
import Foundation
import LifeboatConfig
import Logging

/// Diagnostics and progress go to stderr so stdout stays clean for --json and --dot.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Runs `load`; a config with problems prints every diagnostic and exits 1.
func loadingConfig<T>(_ load: () throws -> T) throws -> T {
    do {
        return try load()
    } catch let error as ConfigurationError {
        printError(error.description)
        throw ExitCode(1)
    }
}

/// The daemons' logs: structured lines on stderr at `level`.
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
