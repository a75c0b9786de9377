import Foundation
import LifeboatCore

/// One drill (one or more runs) as the reports people keep: `report.json`, `report.md` and a
/// self-contained `report.html` (each run's timeline as an inline SVG), and the line it adds to
/// the history file the next drills compare themselves with.
public struct DrillDocument: Sendable {
    /// One earlier (or this) drill, as kept in `history.jsonl`.
    public struct HistoryEntry: Codable, Sendable, Equatable {
        public var date: String
        public var scenario: String
        public var runs: Int
        public var passed: Bool
        public var medianRtoSeconds: Double?
        public var medianRpoSeconds: Double
        public var lostWrites: Int
        public var directory: String?
    }

    public var date: Date
    public var scenario: String
    public var runs: [DrillReport]
    /// The settings the drill ran with, for people (`detection.interval` -> `500ms` …).
    public var settings: [String: String]
    /// Earlier drills of the same scenario, oldest first (the newest few).
    public var history: [HistoryEntry]

    public init(date: Date, runs: [DrillReport], settings: [String: String], history: [HistoryEntry]) {
        self.date = date
        self.runs = runs
        self.scenario = runs.first?.scenario ?? "drill"
        self.settings = settings
        self.history = history
    }

    public var passed: Bool { runs.allSatisfy(\.passed) }
    public var medianRtoSeconds: Double? { Self.median(runs.compactMap(\.rtoSeconds)) }
    public var medianRpoSeconds: Double { Self.median(runs.map(\.rpoSeconds)) ?? 0 }
    public var lostWrites: Int { runs.map(\.rpoLostWrites).reduce(0, +) }

    public static func median(_ values: [Double]) -> Double? {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return nil }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    public static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    public func entry(directory: String?) -> HistoryEntry {
        HistoryEntry(date: Self.iso(date), scenario: scenario, runs: runs.count, passed: passed, medianRtoSeconds: medianRtoSeconds,
                     medianRpoSeconds: medianRpoSeconds, lostWrites: lostWrites, directory: directory)
    }

    // MARK: JSON

    struct JSONForm: Encodable {
        var date: String
        var scenario: String
        var passed: Bool
        var medianRtoSeconds: Double?
        var medianRpoSeconds: Double
        var lostWrites: Int
        var settings: [String: String]
        var runs: [DrillReport]
        var history: [HistoryEntry]
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(JSONForm(date: Self.iso(date), scenario: scenario, passed: passed, medianRtoSeconds: medianRtoSeconds,
                                           medianRpoSeconds: medianRpoSeconds, lostWrites: lostWrites, settings: settings, runs: runs, history: history))
    }

    // MARK: Markdown

    public func markdown() -> String {
        var md: [String] = []
        md.append("# Lifeboat drill: \(scenario)")
        md.append("")
        md.append("\(Self.iso(date)) · \(runs.count) run\(runs.count == 1 ? "" : "s") · **\(passed ? "passed" : "FAILED")**")
        md.append("")
        md.append("| figure | value |")
        md.append("|---|---|")
        md.append("| median RTO (fault → first acknowledged write on the new primary) | \(medianRtoSeconds.map { "\(format3($0)) s" } ?? "not reached") |")
        md.append("| median RPO (seconds of acknowledged writes lost) | \(format3(medianRpoSeconds)) s |")
        md.append("| acknowledged writes lost, all runs | \(lostWrites) |")
        md.append("")
        md.append("## Settings")
        md.append("")
        md.append("| setting | value |")
        md.append("|---|---|")
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { md.append("| `\(key)` | \(Self.cell(value)) |") }
        for (index, run) in runs.enumerated() {
            md.append("")
            md.append("## Run \(index + 1): \(run.passed ? "passed" : "FAILED")")
            md.append("")
            md.append("RTO \(run.rtoSeconds.map { "\(format3($0)) s" } ?? "not reached") · RPO \(run.rpoLostWrites) write\(run.rpoLostWrites == 1 ? "" : "s") lost (\(format3(run.rpoSeconds)) s) · new primary \(run.newPrimary ?? "none") · epoch \(run.epoch)")
            md.append("")
            md.append("| at (s) | event | detail |")
            md.append("|---:|---|---|")
            for step in run.timeline { md.append("| \(step.at < 0 ? "-" : "+")\(format3(abs(step.at))) | \(step.event) | \(Self.cell(step.detail)) |") }
            if let f = run.failback {
                md.append("")
                md.append("| failback | value |")
                md.append("|---|---|")
                for (name, value) in Self.failbackRows(f, rewind: run.rewind) { md.append("| \(name) | \(Self.cell(value)) |") }
            }
            if !run.problems.isEmpty {
                md.append("")
                for problem in run.problems { md.append("- problem: \(problem)") }
            }
        }
        md.append("")
        md.append("## Earlier drills of this scenario")
        md.append("")
        if history.isEmpty {
            md.append("None kept yet: this is the first in the history file.")
        } else {
            md.append("| date | runs | result | median RTO | median RPO | writes lost |")
            md.append("|---|---:|---|---:|---:|---:|")
            for e in history + [entry(directory: nil)] {
                md.append("| \(e.date)\(e.date == Self.iso(date) && e.directory == nil ? " (this drill)" : "") | \(e.runs) | \(e.passed ? "passed" : "FAILED") | \(e.medianRtoSeconds.map { "\(format3($0)) s" } ?? "–") | \(format3(e.medianRpoSeconds)) s | \(e.lostWrites) |")
            }
        }
        return md.joined(separator: "\n") + "\n"
    }

    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    // MARK: HTML

    /// The milestones drawn on the timeline, in the order of a failover.
    static let milestones: [(event: String, label: String, color: String)] = [
        ("detected", "detection", "#b58900"), ("decided", "decision", "#cb4b16"), ("fenced", "fence", "#d33682"),
        ("promoted", "promotion", "#6c71c4"), ("writable", "writable", "#268bd2"), ("dns", "DNS", "#2aa198"), ("write", "first write", "#859900"),
    ]
    static let faultEvents: Set<String> = ["fault", "kill", "switchover", "isolate"]

    /// Each run's timeline from the fault to the first write (or the last event), with a marker
    /// per milestone (the first of each kind) and its time.
    func svg(_ run: DrillReport, index: Int) -> String {
        let width = 880.0, left = 20.0, right = 20.0, axisY = 80.0
        var marks: [(at: Double, label: String, color: String, detail: String)] = []
        if let fault = run.timeline.first(where: { Self.faultEvents.contains($0.event) || $0.at == 0 }) {
            marks.append((0, "fault", "#dc322f", fault.detail))
        }
        for milestone in Self.milestones {
            if let step = run.timeline.first(where: { $0.event == milestone.event && $0.at >= 0 }) {
                marks.append((step.at, milestone.label, milestone.color, step.detail))
            }
        }
        let end = max(run.rtoSeconds ?? 0, marks.map(\.at).max() ?? 0, 0.001)
        let scale = (width - left - right) / end
        // Labels on four levels (two above the axis, two below), so close marks do not collide;
        // anchored inward at the ends.
        let height = 190.0
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" id=\"timeline-\(index + 1)\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"Run \(index + 1) timeline\">"
        svg += "<line x1=\"\(left)\" y1=\"\(axisY)\" x2=\"\(width - right)\" y2=\"\(axisY)\" stroke=\"#586e75\" stroke-width=\"2\"/>"
        for tick in 0...5 {
            let at = end * Double(tick) / 5, x = left + at * scale
            let anchor = tick == 0 ? "start" : tick == 5 ? "end" : "middle"
            svg += "<line x1=\"\(Self.num(x))\" y1=\"\(axisY - 4)\" x2=\"\(Self.num(x))\" y2=\"\(axisY + 4)\" stroke=\"#586e75\"/>"
            svg += "<text x=\"\(Self.num(x))\" y=\"\(height - 8)\" font-size=\"10\" text-anchor=\"\(anchor)\" fill=\"#586e75\">\(format3(at)) s</text>"
        }
        let levels: [(label: Double, stem: Double)] = [(axisY - 44, axisY - 40), (axisY - 16, axisY - 12), (axisY + 24, axisY + 12), (axisY + 52, axisY + 40)]
        for (n, mark) in marks.enumerated() {
            let x = left + mark.at * scale
            let level = levels[n % levels.count]
            let anchor = x < left + 40 ? "start" : x > width - right - 40 ? "end" : "middle"
            svg += "<g class=\"mark\" data-event=\"\(Self.escape(mark.label))\" data-at=\"\(format3(mark.at))\"><title>\(Self.escape(mark.label)) +\(format3(mark.at)) s: \(Self.escape(mark.detail))</title>"
            svg += "<line x1=\"\(Self.num(x))\" y1=\"\(axisY)\" x2=\"\(Self.num(x))\" y2=\"\(level.stem)\" stroke=\"\(mark.color)\" stroke-width=\"1.5\" stroke-dasharray=\"2,2\"/>"
            svg += "<circle cx=\"\(Self.num(x))\" cy=\"\(axisY)\" r=\"5\" fill=\"\(mark.color)\"/>"
            svg += "<text x=\"\(Self.num(x))\" y=\"\(level.label)\" font-size=\"11\" text-anchor=\"\(anchor)\" fill=\"\(mark.color)\">\(Self.escape(mark.label)) <tspan fill=\"#657b83\" font-size=\"10\">+\(format3(mark.at))</tspan></text></g>"
        }
        return svg + "</svg>"
    }

    public func html() -> String {
        let e = Self.escape
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Lifeboat drill: \(e(scenario)) \(e(Self.iso(date)))</title>
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:940px;color:#073642;background:#fdf6e3}
            h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #93a1a1}
            table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #93a1a1;padding:.25em .6em;text-align:left;vertical-align:top}
            td.num{text-align:right;font-variant-numeric:tabular-nums} .passed{color:#859900;font-weight:bold} .failed{color:#dc322f;font-weight:bold}
            .figures{display:flex;gap:1em;margin:1em 0} .figure{background:#eee8d5;padding:.6em 1em;border-radius:6px}
            .figure b{display:block;font-size:1.6em} svg.timeline{background:#fff;border:1px solid #eee8d5;border-radius:6px}
            </style></head><body>
            <h1>Lifeboat drill: \(e(scenario))</h1>
            <p>\(e(Self.iso(date))) · \(runs.count) run\(runs.count == 1 ? "" : "s") · <span id="result" class="\(passed ? "passed" : "failed")">\(passed ? "passed" : "FAILED")</span></p>
            <div class="figures">
            <div class="figure">median RTO<b id="median-rto">\(medianRtoSeconds.map { "\(format3($0)) s" } ?? "not reached")</b>fault → first acknowledged write</div>
            <div class="figure">median RPO<b id="median-rpo">\(format3(medianRpoSeconds)) s</b>of acknowledged writes lost</div>
            <div class="figure">writes lost<b id="lost-writes">\(lostWrites)</b>acknowledged, all runs</div>
            </div>
            <h2>Settings</h2><table id="settings">
            """
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { h += "<tr><th>\(e(key))</th><td>\(e(value))</td></tr>" }
        h += "</table>"
        for (index, run) in runs.enumerated() {
            h += "<h2>Run \(index + 1): <span class=\"\(run.passed ? "passed" : "failed")\">\(run.passed ? "passed" : "FAILED")</span></h2>"
            h += "<p>RTO <b class=\"run-rto\" id=\"rto-\(index + 1)\">\(run.rtoSeconds.map { "\(format3($0)) s" } ?? "not reached")</b> · RPO <b id=\"rpo-\(index + 1)\">\(run.rpoLostWrites)</b> write\(run.rpoLostWrites == 1 ? "" : "s") lost (\(format3(run.rpoSeconds)) s) · new primary \(e(run.newPrimary ?? "none")) · epoch \(run.epoch)</p>"
            h += svg(run, index: index)
            h += "<table class=\"steps\"><tr><th>at (s)</th><th>event</th><th>detail</th></tr>"
            for step in run.timeline {
                h += "<tr><td class=\"num\">\(step.at < 0 ? "-" : "+")\(format3(abs(step.at)))</td><td>\(e(step.event))</td><td>\(e(step.detail))</td></tr>"
            }
            h += "</table>"
            if let f = run.failback {
                h += "<table class=\"failback\" id=\"failback-\(index + 1)\"><tr><th colspan=\"2\">failback</th></tr>"
                for (name, value) in Self.failbackRows(f, rewind: run.rewind) { h += "<tr><th>\(e(name))</th><td>\(e(value))</td></tr>" }
                h += "</table>"
            }
            for problem in run.problems { h += "<p class=\"failed\">problem: \(e(problem))</p>" }
        }
        h += "<h2>Earlier drills of this scenario</h2>"
        if history.isEmpty {
            h += "<p id=\"history\">None kept yet: this is the first in the history file.</p>"
        } else {
            h += "<table id=\"history\"><tr><th>date</th><th>runs</th><th>result</th><th>median RTO</th><th>median RPO</th><th>writes lost</th></tr>"
            for (n, entry) in (history + [entry(directory: nil)]).enumerated() {
                let this = n == history.count
                h += "<tr\(this ? " class=\"this\"" : "")><td>\(e(entry.date))\(this ? " (this drill)" : "")</td><td class=\"num\">\(entry.runs)</td>"
                h += "<td class=\"\(entry.passed ? "passed" : "failed")\">\(entry.passed ? "passed" : "FAILED")</td>"
                h += "<td class=\"num\">\(entry.medianRtoSeconds.map { "\(format3($0)) s" } ?? "–")</td><td class=\"num\">\(format3(entry.medianRpoSeconds)) s</td><td class=\"num\">\(entry.lostWrites)</td></tr>"
            }
            h += "</table>"
        }
        return h + "</body></html>\n"
    }

    /// The failback figures of a run (`--failback`, or a staging drill's way back), for people.
    static func failbackRows(_ f: DrillReport.Failback, rewind: RejoinReport?) -> [(String, String)] {
        let seconds = { (value: Double?) in value.map { "\(format3($0)) s" } ?? "not reached" }
        var rows: [(String, String)] = [
            ("old primary streaming again", seconds(f.rejoinSeconds) + (f.rejoinMethod.map { " (\($0))" } ?? "")),
            ("switchover back: first write (or writable) on the original primary", seconds(f.switchbackSeconds)),
            ("the other node streaming again", seconds(f.standbyAgainSeconds)),
            ("acknowledged writes lost in the switchover back", "\(f.lostInSwitchback) of \(f.writesDuringSwitchback)"),
            ("ends with", "primary \(f.endPrimary ?? "none"), streaming: \(f.endStreaming.isEmpty ? "none" : f.endStreaming.joined(separator: ", "))"),
        ]
        if let slots = f.endSlots { rows.append(("slots in use on the primary", slots.isEmpty ? "none" : slots.joined(separator: ", "))) }
        if let d = rewind?.discarded {
            rows.append(("rewind discarded", "WAL \(d.from)–\(d.to), \(d.bytes) bytes, " + (d.transactions.map { "\($0) transaction(s)" } ?? "not counted")))
        }
        return rows
    }

    static func escape(_ text: String) -> String { Markup.escape(text) }

    static func num(_ value: Double) -> String { String(format: "%.1f", value) }

    // MARK: Writing

    /// Writes `report.json`, `report.md` and `report.html` into a new directory under `parent`
    /// (named by the date and scenario) and appends this drill to `parent/history.jsonl`, reading
    /// the earlier entries of the same scenario first. Returns the directory.
    public static func write(runs: [DrillReport], settings: [String: String], under parent: String, date: Date = Date(), keep: Int = 10) throws -> (directory: String, document: DrillDocument) {
        let fm = FileManager.default
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let historyPath = "\(parent)/history.jsonl"
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let scenario = runs.first?.scenario ?? "drill"
        var earlier: [HistoryEntry] = []
        if let text = try? String(contentsOfFile: historyPath, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                // A line that does not read (an older format, a torn write) is skipped, not fatal.
                if let entry = try? decoder.decode(HistoryEntry.self, from: Data(line.utf8)), entry.scenario == scenario { earlier.append(entry) }
            }
        }
        let document = DrillDocument(date: date, runs: runs, settings: settings, history: Array(earlier.suffix(keep)))
        let stamp = iso(date).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        var directory = "\(parent)/\(stamp)-\(scenario)"
        var suffix = 2
        while fm.fileExists(atPath: directory) {
            directory = "\(parent)/\(stamp)-\(scenario)-\(suffix)"
            suffix += 1
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try document.json().write(to: URL(fileURLWithPath: "\(directory)/report.json"), options: .atomic)
        try Data(document.markdown().utf8).write(to: URL(fileURLWithPath: "\(directory)/report.md"), options: .atomic)
        try Data(document.html().utf8).write(to: URL(fileURLWithPath: "\(directory)/report.html"), options: .atomic)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(document.entry(directory: (directory as NSString).lastPathComponent))
        line.append(0x0A)
        if let handle = FileHandle(forWritingAtPath: historyPath) {
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } else {
            try line.write(to: URL(fileURLWithPath: historyPath))
        }
        return (directory, document)
    }
}
