import Foundation
import LifeboatConfig
import LifeboatTestSupport
import Testing

/// Thousands of seeded mutations of the example configs through both parsers (the monitor's and
/// the agent's): none may crash or hang, every diagnostic is located inside the file, and a
/// config is returned only when there is no error. A failure prints the seed and the variant.
@Suite struct ConfigFuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Values that broke or could break a parser: overflowing numbers and durations, YAML
    /// specials, control characters, anchors, wrong shapes.
    static let nasty = [
        "99999999999999h", "9223372036854775807s", "1e309", "-1", "0", "18446744073709551616", "99999999999999999GiB", "1.5.5s",
        "NaN", ".inf", "~", "null", "", "[]", "{}", "[1, [2, [3]]]", "{a: {b: {c: d}}}", "&a x", "*a", "*nothing", "!!binary aGk=",
        "!!int 3", "<<: *a", "yes", "off", "0x10", "0o17", "\"quoted\\n\"", "'single'", "|\n  block", ">-\n  folded", "\u{07}",
        "\u{1B}[31mred", "a\u{0}b", "é", "🛟", "http://localhost.attacker.example/v4", "http://user:pw@127.0.0.1/v4", "ftp://x",
        "not base64!!", "sk_live_51H8aBcDeFgHiJkLmNoP", "10.0.0.1:99999", "127.0.0.1:0", "::1", "-", "- - -", "? complex\n: key",
        "%YAML 1.1", "---", "...", "\t", "key: value: other", "@", "`", "#", "pg-a\nforged: line",
    ]

    static func mutate(_ text: String, _ rng: inout SplitMix64) -> String {
        var lines = text.components(separatedBy: "\n")
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !lines.isEmpty else { break }
            let i = Int.random(in: 0..<lines.count, using: &rng)
            switch rng.next() % 10 {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)  // a duplicated line: a repeated key
            case 2:
                let j = Int.random(in: 0..<lines.count, using: &rng)
                lines.swapAt(i, j)
            case 3:
                // Replace a value after the colon.
                if let colon = lines[i].firstIndex(of: ":") {
                    lines[i] = String(lines[i][...colon]) + " " + nasty.randomElement(using: &rng)!
                }
            case 4:
                // Change the indentation.
                let spaces = Int.random(in: 0...6, using: &rng)
                lines[i] = String(repeating: " ", count: spaces) + lines[i].drop { $0 == " " }
            case 5:
                // Insert a random character somewhere in the line.
                var chars = Array(lines[i].unicodeScalars)
                let scalar = Unicode.Scalar(UInt32.random(in: 0...0x7F, using: &rng)) ?? "x"
                chars.insert(scalar, at: Int.random(in: 0...chars.count, using: &rng))
                lines[i] = String(String.UnicodeScalarView(chars))
            case 6:
                // Cut the line short.
                let chars = Array(lines[i])
                lines[i] = String(chars.prefix(Int.random(in: 0...chars.count, using: &rng)))
            case 7:
                lines.insert(nasty.randomElement(using: &rng)!, at: i)
            case 8:
                // Rename a key.
                if let colon = lines[i].firstIndex(of: ":") {
                    let indent = lines[i].prefix { $0 == " " || $0 == "-" }
                    lines[i] = indent + ["nodes", "name", "interval", "dryRun", "timeout", "x_y", "token_env", "key"].randomElement(using: &rng)!
                        + String(lines[i][colon...])
                }
            default:
                // A number multiplied into something huge.
                lines[i] = lines[i].replacingOccurrences(of: "5", with: "5555555555555555555555")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func check(_ diagnostics: [Diagnostic], configReturned: Bool, text: String, label: String) {
        let lineCount = text.components(separatedBy: "\n").count
        for d in diagnostics {
            #expect(d.line >= 1 && d.line <= lineCount + 1, "\(label): line \(d.line) outside the file (\(lineCount) lines): \(d)")
            #expect(d.column >= 1, "\(label): column \(d.column): \(d)")
            #expect(!d.message.isEmpty, "\(label): empty message")
            #expect(!d.description.contains("\n"), "\(label): a diagnostic spans lines: \(d)")
            #expect(d.description.count < 1200, "\(label): the diagnostic dumps too much: \(d.description.prefix(200))")
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        #expect(configReturned == (errors == 0), "\(label): returned a config with \(errors) errors, or none without")
    }

    @Test(arguments: 1...4)
    func mutatedExampleConfigsNeverCrashHangOrLoseTheirPlace(seed: UInt64) throws {
        let monitor = try String(contentsOf: Self.root.appendingPathComponent("examples/lifeboat.yml"), encoding: .utf8)
        let agent = try String(contentsOf: Self.root.appendingPathComponent("examples/agent.yml"), encoding: .utf8)
        var rng = SplitMix64(state: seed &* 0x1000_0001)
        let clock = ContinuousClock()
        for i in 0..<400 {
            let variant = Self.mutate(monitor, &rng)
            let started = clock.now
            let (config, diagnostics) = ConfigParser.parse(yaml: variant, file: "lifeboat.yml", environment: [:])
            #expect(started.duration(to: clock.now) < .seconds(5), "seed \(seed) variant \(i): parsing hung")
            Self.check(diagnostics, configReturned: config != nil, text: variant, label: "monitor seed \(seed) variant \(i)")

            let agentVariant = Self.mutate(agent, &rng)
            let (agentConfig, agentDiagnostics) = AgentConfigParser.parse(yaml: agentVariant, file: "agent.yml", environment: [:])
            Self.check(agentDiagnostics, configReturned: agentConfig != nil, text: agentVariant, label: "agent seed \(seed) variant \(i)")
        }
    }
}
