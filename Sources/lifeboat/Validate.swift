import ArgumentParser
import LifeboatConfig

extension Lifeboat {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a config file and report every problem at once.",
            discussion: """
                Prints each problem as FILE:LINE:COLUMN: error|warning: FIELD.PATH: what is wrong and what \
                is expected. Exits 0 with a one-line summary when the file is valid (warnings allowed), \
                1 when it has errors. Nothing is contacted: validation only reads the file and the \
                environment variables and secret files it names.
                """
        )

        @Argument(help: "The config file (YAML), e.g. examples/lifeboat.yml.")
        var file: String

        @Flag(name: .shortAndLong, help: "Print only problems, no summary line.")
        var quiet = false

        func run() async throws {
            let (config, diagnostics) = try loadingConfig { try ConfigLoader.check(path: file) }
            for diagnostic in diagnostics { printError(diagnostic.description) }
            let errors = diagnostics.filter { $0.severity == .error }.count
            let warnings = diagnostics.count - errors
            guard let config else {
                printError("\(file): \(errors) error\(errors == 1 ? "" : "s")\(warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "")")
                throw ExitCode(1)
            }
            if !quiet { print("\(file): valid: \(config.summary)") }
        }
    }
}
