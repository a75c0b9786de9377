import Foundation
import LifeboatTestSupport
import Testing

/// `lifeboat drill --sandbox` writes report.json, report.md and a self-contained report.html; the
/// HTML, rendered by headless Chromium, shows the figures the JSON holds, each run's timeline as
/// an SVG, and the earlier drills kept in history.jsonl.
@Suite(.serialized) struct DrillReportTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func format3(_ value: Double) -> String { String(format: "%.3f", value) }

    @Test(.enabled(if: chromium != nil, "needs headless Chromium (Debian's chromium; scripts/test installs it)"))
    func theDrillWritesReportsWhoseHTMLShowsTheJSONsFigures() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-reports-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // An earlier drill of the same scenario, and one of another scenario (not compared).
        let earlier = #"{"date":"2026-11-30T10:00:00Z","directory":"20261130T100000Z-kill-primary","lost_writes":2,"median_rpo_seconds":0.05,"median_rto_seconds":1.5,"passed":true,"runs":3,"scenario":"kill-primary"}"#
        let other = #"{"date":"2026-11-30T11:00:00Z","lost_writes":0,"median_rpo_seconds":0,"median_rto_seconds":0.4,"passed":true,"runs":1,"scenario":"switchover"}"#
        try (earlier + "\n" + other + "\nnot json\n").write(to: dir.appendingPathComponent("history.jsonl"), atomically: true, encoding: .utf8)

        let drill = try await CLI.run(["drill", "--sandbox", "--report-dir", dir.path])
        #expect(drill.status == 0, "\(drill.stderr)")
        let reports = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix("-kill-primary") && !$0.hasPrefix("20261130") }
        #expect(reports.count == 1, "\(reports)")
        let report = dir.appendingPathComponent(try #require(reports.first))
        #expect(drill.stderr.contains("report: \(report.path)/report.html"), "\(drill.stderr)")

        // The figures, from the JSON.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("report.json"))) as? [String: Any])
        let median = try #require(json["median_rto_seconds"] as? Double)
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(runs.count == 1)
        let rto = try #require(runs[0]["rto_seconds"] as? Double)
        #expect(abs(rto - median) < 1e-9, "one run: its RTO is the median")
        let lost = try #require(json["lost_writes"] as? Int)
        #expect((json["history"] as? [[String: Any]])?.count == 1, "only the earlier kill-primary drill is compared")

        // The HTML as Chromium renders it.
        let chromium = try #require(Self.chromium)
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
        let html = report.appendingPathComponent("report.html")
        let dom = try runTool(chromium, common + ["--dump-dom", html.absoluteString]).output
        #expect(dom.contains(#"<b id="median-rto">\#(Self.format3(median)) s</b>"#), "the median RTO shown is the JSON's")
        #expect(dom.contains(#"id="rto-1">\#(Self.format3(rto)) s</b>"#))
        #expect(dom.contains(#"<b id="lost-writes">\#(lost)</b>"#))
        #expect(dom.contains(#"id="result" class="passed">passed<"#))
        // The timeline SVG: a mark per milestone; the first write's is at the RTO.
        let marks = dom.components(separatedBy: #"<g class="mark" data-event=""#).dropFirst().map { $0.prefix { $0 != "\"" } }
        for event in ["fault", "detection", "decision", "fence", "promotion", "writable", "DNS", "first write"] {
            #expect(marks.contains(Substring(event)), "\(event) missing from the timeline: \(marks)")
        }
        #expect(dom.contains(#"data-event="first write" data-at="\#(Self.format3(rto))""#))
        #expect(dom.contains("2026-11-30T10:00:00Z") && dom.contains("(this drill)") && !dom.contains("2026-11-30T11:00:00Z"))
        #expect(!dom.contains("<script"), "self-contained and static")

        // A screenshot: a PNG of the page as people see it.
        let png = dir.appendingPathComponent("report.png")
        let shot = try runTool(chromium, common + ["--screenshot=\(png.path)", "--window-size=1000,1400", html.absoluteString])
        let bytes = try Data(contentsOf: png)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(shot.output)")
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1000 && height == 1400)
        #expect(bytes.count > 30_000, "a page with text, tables and a timeline, not a blank one (\(bytes.count) bytes)")
        // Kept where people can look at it after the run: .build/test-artifacts/drill-report.png.
        let kept = CLI.packageRoot.appendingPathComponent(".build/test-artifacts")
        try? FileManager.default.createDirectory(at: kept, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: kept.appendingPathComponent("drill-report.png"))
        try? FileManager.default.copyItem(at: png, to: kept.appendingPathComponent("drill-report.png"))

        // The Markdown says the same, and the history file has this drill at its end.
        let markdown = try String(contentsOf: report.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("| median RTO (fault → first acknowledged write on the new primary) | \(Self.format3(median)) s |"))
        let history = try String(contentsOf: dir.appendingPathComponent("history.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(history.count == 4)
        #expect(history.last?.contains(#""directory":"\#(report.lastPathComponent)""#) == true, "\(history.last ?? "")")
    }
}
