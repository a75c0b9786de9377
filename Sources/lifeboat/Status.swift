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
                return [node.region, node.name, node.role, node.health + (node.reachable ? "" : " (unreachable)"), node.lsn ?? "", lag, node.walReceiver ?? ""]
            }
            var out = ["Cluster: \(view.cluster)   State: \(view.state)\(view.paused ? " (paused)" : "")   Epoch: \(view.epoch)"]
            out += grid(["Region", "Node", "Role", "Health", "LSN", "Lag", "WAL receiver"], rows)
            out.append("Last decision: \(view.lastDecision)")
            if !view.agents.isEmpty {
                let agentRows = view.agents.map { a -> [String] in
                    let files = a.files.map { f -> String in
                        let age = f.ageSeconds.map { "\(Int($0.rounded()))s ago" } ?? "never"
                        return "\(f.name): \(age)\(f.errors > 0 ? ", \(f.errors) errors" : "")"
                    }.joined(separator: "; ")
                    let isSource = a.filesPrimaryRegion == a.region
                    let source = a.filesPrimaryRegion.map { isSource ? "source (epoch \(a.filesEpoch ?? 0))" : "from \($0) (epoch \(a.filesEpoch ?? 0))" } ?? ""
                    return [a.region, a.node, a.reachable ? (a.role ?? "") : "unreachable", a.drift ? "DRIFT" : (a.deploymentHash.map { String($0.prefix(12)) } ?? ""),
                            [source, isSource ? "" : files, a.filesRefusal ?? ""].filter { !$0.isEmpty }.joined(separator: " — ")]
                }
                out.append("")
                out.append("Agents")
                out += grid(["Region", "Node", "Agent sees", "Deployment", "Files"], agentRows)
            }
            return out.joined(separator: "\n")
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
        static let configuration = CommandConfiguration(abstract: "Print the monitor's journal: every decision, step and operator command, with its reason.")

        @OptionGroup var options: APIOptions

        @Option(help: "Only events after this sequence number.")
        var since: Int64 = 0

        @Option(help: "At most this many events.")
        var limit = 200

        func run() async throws {
            let (status, data) = try await options.call("GET", "/v1/events?since=\(since)&limit=\(limit)")
            guard status == 200 else {
                printError("the monitor answered \(status)")
                throw ExitCode(1)
            }
            for event in try options.decode(EventsView.self, data).events {
                let what = [event.step, event.node].compactMap { $0 }.joined(separator: " ")
                print("\(event.seq)  \(event.at)  epoch \(event.epoch)  \(event.kind)\(what.isEmpty ? "" : " (\(what))")  \(event.message)")
            }
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
            discussion: "Prints the plan step by step and what it would lose (the candidate's lag). With --dry-run nothing changes."
        )
        @OptionGroup var options: APIOptions
        @Option(help: "The standby to promote (default: the best one).") var to: String?
        @Flag(help: "Show the plan without acting.") var dryRun = false
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws {
            let (status, data) = try await options.call("POST", "/v1/failover", body: FailoverRequest(to: to, dryRun: dryRun, by: by), authenticated: true)
            let plan = try options.decode(PlanView.self, data)
            if let refusal = plan.refusal {
                printError("no failover: \(refusal)")
                throw ExitCode(1)
            }
            print(plan.dryRun ? "Plan (dry run, nothing changed): \(plan.from ?? "?") -> \(plan.to ?? "?")" : "Failover started: \(plan.from ?? "?") -> \(plan.to ?? "?")")
            for (i, step) in plan.steps.enumerated() { print("  \(i + 1). \(step)") }
            print("  would lose: " + (plan.lossBytes.map { $0 == 0 ? "nothing known (0 bytes behind)" : "up to \($0) bytes of WAL" } ?? "unknown (no position known)"))
            if !plan.dryRun { print("Follow it with: lifeboat events --api \(options.api)") }
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
                Writes fail for the few hundred milliseconds in between; none that was acknowledged is lost.
                """
        )
        @OptionGroup var options: APIOptions
        @Option(help: "The standby to promote (default: the best one).") var to: String?
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws {
            let (status, data) = try await options.call("POST", "/v1/switchover", body: FailoverRequest(to: to, by: by), authenticated: true)
            let plan = try options.decode(PlanView.self, data)
            if let refusal = plan.refusal {
                printError("no switchover: \(refusal)")
                throw ExitCode(1)
            }
            print("Switchover started: \(plan.from ?? "?") -> \(plan.to ?? "?")")
            for (i, step) in plan.steps.enumerated() { print("  \(i + 1). \(step)") }
            print("Follow it with: lifeboat events --api \(options.api)")
            if status >= 300 { throw ExitCode(1) }
        }
    }
}
