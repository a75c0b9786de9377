import Foundation

/// Diagnostics and progress go to stderr so stdout stays clean for --json and --dot.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
