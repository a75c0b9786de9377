import ArgumentParser
import Foundation
import LifeboatHTTP

extension Lifeboat {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cluster as the monitor sees it: nodes, roles, health, lag, state, epoch, last decision."
        )

        @OptionGroup var options: APIOptions

        @Flag(help: "Print the monitor's answer as JSON.")
        var json = false

        func run() async throws {
            let (status, data) = try await options.call("GET", "/v1/status")
            guard status == 200 else {
                printError("the monitor answered \(status)")
                throw ExitCode(1)
            }
            if json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let view = try options.decode(StatusView.self, data)
            print(Self.table(view))
        }

        static func table(_ view: StatusView) -> String {
            let rows = view.nodes.map { node -> [String] in
                let lag: String = switch (node.lagBytes, node.lagSeconds) {
                case let (bytes?, seconds?): "\(bytes) B / \(String(format: "%.1f", seconds)) s"
                case let (bytes?, nil): "\(bytes) B"
                default: node.role == "standby" ? "?" : ""
                }
                let timeline = node.timeline.map { "\($0)" + (node.forked ? " FORKED" : "") } ?? ""
                // A fenced node answers probes, but it takes no writes: never shown as healthy.
                let health = node.role == "fenced" ? "fenced (read-only)" : node.health
                return [node.region, node.name, node.role, health + (node.reachable ? "" : " (unreachable)"), node.lsn ?? "", timeline, lag,
                        node.walReceiver ?? "", age(node.observedAgoSeconds)]
            }
            var out = ["Cluster: \(view.cluster)   State: \(view.state)\(view.paused ? " (paused)" : "")   Epoch: \(view.epoch)"]
            if let m = view.monitors {
                out.append(m.leading ? "Monitors: \(m.me) leads"
                           : "Monitors: \(m.me) follows; " + (m.leader.map { "\($0) leads" + (m.leaderAPI.map { ", ask it: lifeboat status --api \($0)" } ?? "") }
                                                              ?? "no monitor leads now (etcd unreachable, or an election is under way)"))
            }
            if let lease = view.lease {
                out.append(lease.released ? "Lease: released by \(lease.holder) (its PostgreSQL is down)"
                           : lease.remainingSeconds > 0 ? "Lease: held by \(lease.holder), \(String(format: "%.1f", lease.remainingSeconds))s left (epoch \(lease.epoch))"
                           : "Lease: \(lease.holder)'s ran out: it has fenced itself")
            }
            out += warnings(view).map { "WARNING: \($0)" }
            out += grid(["Region", "Node", "Role", "Health", "LSN", "TL", "Lag", "WAL receiver", "Seen"], rows)
            for node in view.nodes where node.forked {
                out.append("\(node.name) is on timeline \(node.timeline ?? 0), not the primary's: its history forked (an old backup, or promoted on its own); it is never promoted. Rebuild it from the primary.")
            }
            out.append("Last decision: \(view.lastDecision)")
            if !view.regions.isEmpty {
                out.append("Application tier: " + view.regions.map { r in
                    "\(r.region) " + (r.verdict == "serving" ? "serving" : r.verdict == "down" ? "DOWN" : "down as the monitor sees it, not confirmed") + " (\(r.healthy) of \(r.total) up)"
                }.joined(separator: "; "))
            }
            if !view.agents.isEmpty {
                let agentRows = view.agents.map { a -> [String] in
                    let files = a.files.map { f -> String in
                        let age = f.ageSeconds.map { "\(Int($0.rounded()))s ago" } ?? "never"
                        return "\(f.name): \(age)\(f.errors > 0 ? ", \(f.errors) errors" : "")"
                    }.joined(separator: "; ")
                    let isSource = a.filesPrimaryRegion == a.region
                    let source = a.filesPrimaryRegion.map { isSource ? "source (epoch \(a.filesEpoch ?? 0))" : "from \($0) (epoch \(a.filesEpoch ?? 0))" } ?? ""
                    return [a.region, a.node, a.reachable ? (a.role ?? "") : "unreachable", a.drift ? "DRIFT" : (a.deploymentHash.map { String($0.prefix(12)) } ?? ""),
                            [source, isSource ? "" : files, a.filesRefusal ?? ""].filter { !$0.isEmpty }.joined(separator: " — "), age(a.checkedAgoSeconds)]
                }
                out.append("")
                out.append("Agents")
                out += grid(["Region", "Node", "Agent sees", "Deployment", "Files", "Asked"], agentRows)
            }
            return out.joined(separator: "\n")
        }

        /// What an operator must not miss, from the typed fields of the monitor's view: no writable
        /// primary, no standby to fail over to, a standby that does not stream.
        static let failoverStates: Set<String> = ["bumping-epoch", "fencing", "awaiting-lease", "catching-up", "promoting", "waiting-writable",
                                                  "repointing", "switching-traffic"]

        static func warnings(_ view: StatusView) -> [String] {
            // Before the monitor has looked at every node it knows nothing worth warning about; a
            // monitor that follows another does not probe at all (the leader's status says).
            guard view.state != "following" else { return [] }
            guard view.state != "discovering" || view.nodes.contains(where: { $0.reachable }) else { return [] }
            var warnings: [String] = []
            let primaries = view.nodes.filter { $0.role == "primary" }
            if primaries.isEmpty {
                let fenced = view.nodes.filter { $0.role == "fenced" }.map(\.name)
                warnings.append("no writable primary" + (fenced.isEmpty ? "" : ": \(fenced.joined(separator: ", ")) fenced (read-only)")
                                + (Self.failoverStates.contains(view.state) ? " while the failover runs" : ""))
            }
            let standbys = view.nodes.filter { $0.role == "standby" }
            if standbys.isEmpty, !view.nodes.isEmpty {
                warnings.append("no standby: a failover would have nowhere to go; rebuild one from the primary (docs/postgresql.md)")
            }
            for node in standbys where node.walReceiver != "streaming" {
                warnings.append("standby \(node.name) is not streaming from the primary (WAL receiver: \(node.walReceiver ?? "none")); it falls behind")
            }
            return warnings
        }

        /// How old a line is: "0.4s ago", or "never".
        static func age(_ seconds: Double?) -> String {
            guard let seconds else { return "never" }
            return seconds < 60 ? String(format: "%.1fs ago", seconds) : "\(Int(seconds / 60))m\(Int(seconds) % 60)s ago"
        }

        static func grid(_ header: [String], _ rows: [[String]]) -> [String] {
            let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
            func line(_ cells: [String]) -> String {
                "| " + cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
            }
            let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
            return [rule, line(header), rule] + rows.map(line) + [rule]
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the monitor's journal: every decision, step and operator command, with its reason.",
            discussion: """
                By default the newest events, newest first, with repeats of the same line folded into one \
                ("×300 over 80s") and a last line saying how many earlier events were left out. --since N \
                prints the events after N, oldest first (for scripts). --follow prints the last few, then \
                each new event as it is journaled, like tail -f, until interrupted.
                """
        )

        @OptionGroup var options: APIOptions

        @Option(help: "Only events after this sequence number, oldest first.")
        var since: Int64?

        @Option(help: "At most this many events (1 to 1000; default 50, or 200 with --since).")
        var limit: Int?

        @Flag(help: "Keep printing new events as they come (Ctrl-C to stop).")
        var follow = false

        @Flag(help: "Print every event, without folding repeats.")
        var all = false

        func validate() throws {
            if let since, since < 0 { throw ValidationError("--since must be 0 or more") }
            if let limit, !(1...1000).contains(limit) { throw ValidationError("--limit must be between 1 and 1000") }
            if follow, since != nil { throw ValidationError("--follow starts from the newest events; leave out --since") }
        }

        func fetch(_ query: String) async throws -> [EventView] {
            let (status, data) = try await options.call("GET", "/v1/events?\(query)")
            guard status == 200 else {
                printError("the monitor answered \(status)")
                throw ExitCode(1)
            }
            return try options.decode(EventsView.self, data).events
        }

        func run() async throws {
            if let since {
                let events = try await fetch("since=\(since)&limit=\(limit ?? 200)")
                for line in Self.lines(all ? events.map { Run(first: $0, last: $0, count: 1) } : Self.fold(events)) { print(line) }
                return
            }
            let newest = try await fetch("newest=\(limit ?? (follow ? 10 : 50))")
            if follow {
                for line in Self.lines(Self.fold(newest)) { print(line) }
                fflush(nil)
                var last = newest.last?.seq ?? 0
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    let events = try await fetch("since=\(last)&limit=1000")
                    for line in Self.lines(all ? events.map { Run(first: $0, last: $0, count: 1) } : Self.fold(events)) { print(line) }
                    fflush(nil)
                    last = events.last?.seq ?? last
                }
                return
            }
            let runs = all ? newest.map { Run(first: $0, last: $0, count: 1) } : Self.fold(newest)
            for line in Self.lines(runs.reversed()) { print(line) }
            if let first = newest.first, first.seq > 1 {
                print("… \(first.seq - 1) earlier events not shown (lifeboat events --since \(max(0, first.seq - 1 - 1000)) --limit 1000 prints them oldest first)")
            } else if newest.isEmpty {
                print("(no events yet)")
            }
        }

        /// Consecutive events that say the same thing, as one line.
        struct Run {
            var first: EventView
            var last: EventView
            var count: Int
        }

        /// Folds runs of events with the same kind, step, node and message (oldest first in, oldest first out).
        static func fold(_ events: [EventView]) -> [Run] {
            var runs: [Run] = []
            for event in events {
                if let previous = runs.last, previous.last.kind == event.kind, previous.last.step == event.step,
                   previous.last.node == event.node, previous.last.message == event.message {
                    runs[runs.count - 1].last = event
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append(Run(first: event, last: event, count: 1))
                }
            }
            return runs
        }

        static func lines<S: Sequence>(_ runs: S) -> [String] where S.Element == Run {
            runs.map { run in
                let event = run.first
                let what = [event.step, event.node].compactMap { $0 }.joined(separator: " ")
                var line = "\(event.seq)  \(event.at)  epoch \(event.epoch)  \(event.kind)\(what.isEmpty ? "" : " (\(what))")  \(event.message)"
                if run.count > 1 {
                    line += "  ×\(run.count)" + (span(run.first.at, run.last.at).map { " over \($0)" } ?? "") + " (to #\(run.last.seq))"
                }
                return line
            }
        }

        /// "80s" between two ISO 8601 times, when both parse.
        static func span(_ from: String, _ to: String) -> String? {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let a = formatter.date(from: from), let b = formatter.date(from: to) else { return nil }
            let seconds = b.timeIntervalSince(a)
            return seconds < 120 ? String(format: "%.0fs", seconds) : "\(Int(seconds / 60))m\(Int(seconds) % 60)s"
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop automatic failover (maintenance); the monitor keeps watching and alerting.")
        @OptionGroup var options: APIOptions
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws { try await options.operatorCommand("/v1/pause", by: by) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allow automatic failover again.")
        @OptionGroup var options: APIOptions
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws { try await options.operatorCommand("/v1/resume", by: by) }
    }

    struct Failover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Promote a standby now (unplanned: does not wait for it to catch up).",
            discussion: """
                Prints the plan step by step and what it would lose (the candidate's lag). With --dry-run \
                nothing changes: the monitor's own decision logic is run on a copy of its state, so the \
                plan shown is the one a real request would start, and a refusal is the one it would give.
                """
        )
        @OptionGroup var options: APIOptions
        @Option(help: "The standby to promote (default: the best one).") var to: String?
        @Flag(help: "Show the plan without acting.") var dryRun = false
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"
        @Option(help: ArgumentHelp("The --to node's name again: needed when no primary is identified (every node a standby).", valueName: "node"))
        var confirm: String?

        func validate() throws {
            if confirm != nil, to == nil { throw ValidationError("--confirm repeats the node of --to; give --to too") }
            if let confirm, let to, confirm != to { throw ValidationError("--confirm \(confirm) does not match --to \(to)") }
        }

        func run() async throws {
            let (status, data) = try await options.call("POST", "/v1/failover", body: FailoverRequest(to: to, dryRun: dryRun, by: by, confirm: confirm),
                                                        authenticated: true)
            try Self.report(status, data, options: options, what: "failover")
        }

        /// Prints the monitor's answer to a failover or switchover: the plan, or why not.
        static func report(_ status: Int, _ data: Data, options: APIOptions, what: String) throws {
            if status == 400 || status == 503 {
                printError("no \(what): \(try options.decode(MessageView.self, data).message)")
                throw ExitCode(1)
            }
            let plan = try options.decode(PlanView.self, data)
            if let refusal = plan.refusal {
                printError("no \(what): \(refusal)")
                throw ExitCode(1)
            }
            let epoch = plan.epoch.map { " under epoch \($0)" } ?? ""
            print(plan.dryRun ? "Plan (dry run, nothing changed): \(plan.from ?? "?") -> \(plan.to ?? "?")\(epoch)"
                              : "\(what.prefix(1).uppercased() + what.dropFirst()) started: \(plan.from ?? "?") -> \(plan.to ?? "?")\(epoch)")
            for (i, step) in plan.steps.enumerated() { print("  \(i + 1). \(step)") }
            print("  would lose: " + (plan.lossBytes.map { $0 == 0 ? "nothing known (0 bytes behind)" : "up to \($0) bytes of WAL" } ?? "unknown (no position known)"))
            if !plan.dryRun { print("Follow it with: lifeboat events" + (options.api.map { " --api \($0)" } ?? "")) }
            if status >= 300 { throw ExitCode(1) }
        }
    }
}

extension Lifeboat {
    struct Switchover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Planned move of the primary role with zero data loss.",
            discussion: """
                Fences the current primary (read-only, sessions terminated), waits until the target has \
                replayed its last WAL, then promotes the target and switches traffic. Needs a healthy primary. \
                Writes fail for the few hundred milliseconds in between; none that was acknowledged is lost. \
                With --dry-run nothing changes: the plan is the one a real request would start.
                """
        )
        @OptionGroup var options: APIOptions
        @Option(help: "The standby to promote (default: the best one).") var to: String?
        @Flag(help: "Show the plan without acting.") var dryRun = false
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws {
            let (status, data) = try await options.call("POST", "/v1/switchover", body: FailoverRequest(to: to, dryRun: dryRun, by: by), authenticated: true)
            try Failover.report(status, data, options: options, what: "switchover")
        }
    }
}
