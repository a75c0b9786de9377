import ArgumentParser
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatSandbox
import Logging

extension Lifeboat {
    struct Drill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a disaster-recovery drill and measure RTO and RPO.",
            discussion: """
                --sandbox builds two regions on this machine: a PostgreSQL primary (us-east) and a \
                streaming standby (eu-west) in a temporary directory, each region on its own address of \
                a loopback block reserved for this drill (two drills can run at once), run as the \
                postgres OS user when started as root. A Knot DNS server serves app.lifeboat.sandbox, an \
                agent runs per region (the primary's agent holds the primary's lease, 5 s unless --config sets \
                failover.lease_ttl), and the monitor runs exactly as lifeboat monitor builds it (state \
                file, API, agent coordination). A client writes numbered rows through the DNS name; then \
                the scenario acts: kill-primary (default) sends SIGKILL to the primary's postmaster, \
                switchover asks for a planned switchover as an operator would. \
                Partition scenarios (root; ip and nft, nftables installed when missing) build each region \
                in a network namespace of its own, with its agent and a client as separate lifeboat \
                processes there, and cut regions silently with nftables: isolate-primary (the primary's \
                region cut off: one failover, no write on the old primary after the promotion), \
                cut-monitor (only the monitor loses the primary's region: no failover), blip (1, 2, 3 s \
                cuts: no failover), return-of-the-old-primary (the old primary restarted with its old data \
                after the failover: it takes no write). With --monitors 3 (etcd installed when missing) a \
                monitor and an etcd member run in each region and at the witness, the primary region's \
                monitor leading; monitor-crash (the leader killed as soon as it stored the new epoch: another \
                finishes the failover) and etcd-member-loss (etcd's raft leader killed: no failover) need \
                them. Region scenarios (failover.trigger: region) give each region two application nodes \
                (lifeboat drill-app processes answering /healthz) whose addresses app.lifeboat.sandbox \
                holds: app-tier-down kills every application node of the primary's region while its \
                database stays healthy (database and traffic must move together, nothing lost), \
                app-node-down kills one (only its address leaves the record, never emptied, no failover; \
                it comes back once the node answers again). With --failback (kill-primary or switchover) the loop is closed: the old primary is \
                rejoined as a standby with pg_rewind (what it discarded is reported), a switchover moves the \
                primary back under a writer, and the other node rejoins in turn; the drill passes when the \
                original primary is primary again, the other node streams, and no acknowledged write of the \
                switchover back is missing. docs/drills.md. The drill prints \
                the timeline (fault, detection, decision, fencing, promotion, first write on the new \
                primary), RTO (fault -> first acknowledged write on the new primary) and RPO \
                (acknowledged writes missing on the new primary). Everything is removed afterwards, also \
                on Ctrl-C. PostgreSQL is installed from Debian's packages when missing and running as root.

                --staging --config FILE --confirm CLUSTER drills a real deployment instead, through its running \
                monitor: a planned switchover to the best standby, the old primary rejoining, and a \
                switchover back, timed, with the same report files. It is refused unless the cluster's \
                name is typed again, lifeboat doctor finds nothing that would break a failover, and the \
                cluster is healthy (monitoring, not paused, a writable primary, every other node a \
                streaming standby). The API address and token come from the config file, as for \
                lifeboat status.

                Exit status: 0 when the drill passed (its scenario's checks: for kill-primary exactly one promotion and writes resumed), 1 otherwise.
                """
        )

        @Flag(help: "Run against local sandbox regions built for the drill.")
        var sandbox = false

        @Flag(help: "Drill the real deployment of --config through its running monitor: a switchover there and back (needs --confirm).")
        var staging = false

        @Option(help: ArgumentHelp("With --staging: the cluster's name, typed again.", valueName: "cluster"))
        var confirm: String?

        @Option(help: ArgumentHelp("What to do to the cluster: \((DrillScenarios.all.map(\.name) + PartitionScenario.allCases.map(\.rawValue) + RegionDrill.Kind.allCases.map(\.rawValue)).joined(separator: ", ")).",
                                   valueName: "name"))
        var scenario = "kill-primary"

        @Flag(help: "Same as --scenario switchover.")
        var switchover = false

        @Flag(help: "After the failover (or switchover): rejoin the old primary with pg_rewind, switch over back under a writer, and check the cluster ends where it began (rewind report under \"rewind\" in --json).")
        var failback = false

        @Option(help: ArgumentHelp("Keep synchronous_standby_names as durability: MODE does (async, sync, quorum); the drill then fails on any lost acknowledged write.", valueName: "mode"))
        var durability: DurabilityPolicy.Mode?

        @Option(help: ArgumentHelp("With --durability sync or quorum: what commits do while too few standbys stream (wait, async). After a kill the new primary has no standby until the old one rejoins: with wait its commits wait for it.", valueName: "wait|async"))
        var whenShort: DurabilityPolicy.WhenShort?

        @Option(help: ArgumentHelp("Writers inserting at once, each on its own connection, without pause (the first one, with 10 ms pauses, times the RTO).", valueName: "count"))
        var writers = 1

        @Option(help: "Take detection and failover settings from this config file (its nodes are not used).")
        var config: String?

        @Option(help: ArgumentHelp("Partition drills: 1 monitor at the witness, or 3 (in each region and at the witness, over a three-member etcd; the primary region's one leads). monitor-crash and etcd-member-loss need 3.",
                                   valueName: "count"))
        var monitors: Int?

        @Option(help: "Run the drill this many times and report the median RTO.")
        var runs = 1

        @Flag(help: "Print the report as JSON on stdout.")
        var json = false

        @Option(help: ArgumentHelp("Where the drill's reports go: a new directory per drill with report.json, report.md and report.html, and history.jsonl that later drills compare themselves with.", valueName: "dir"))
        var reportDir = "drill-reports"

        @Flag(help: "Write no report files (the report is still printed).")
        var noReport = false

        @Flag(help: "Do not install PostgreSQL when it is missing; fail with instructions instead.")
        var noInstall = false

        @Option(help: "Show the engine's log on stderr at this level (trace, debug, info, notice, warning, error, critical). Default: no log, only the report.")
        var logLevel: Logger.Level?

        func validate() throws {
            if staging {
                guard !sandbox else { throw ValidationError("--sandbox and --staging exclude each other") }
                guard config != nil else { throw ValidationError("--staging needs --config FILE: the deployment's lifeboat.yml (its API address and token too)") }
                guard scenario == "kill-primary", !switchover, !failback, durability == nil, monitors == nil, runs == 1, writers == 1 else {
                    throw ValidationError("--staging is a switchover there and back; --scenario, --switchover, --failback, --durability, --monitors, --runs and --writers are for --sandbox")
                }
                return
            }
            if confirm != nil { throw ValidationError("--confirm goes with --staging") }
            guard sandbox else {
                throw ValidationError("choose the kind of drill: --sandbox (local regions built for it) or --staging --config FILE --confirm CLUSTER (a real deployment)")
            }
            guard DrillScenarios.named(scenario) != nil || PartitionScenario(rawValue: scenario) != nil || RegionDrill.Kind(rawValue: scenario) != nil else {
                let known = DrillScenarios.all.map(\.name) + PartitionScenario.allCases.map(\.rawValue) + RegionDrill.Kind.allCases.map(\.rawValue)
                throw ValidationError("unknown scenario '\(scenario)'; known: \(known.joined(separator: ", "))")
            }
            if switchover, scenario != "kill-primary", scenario != "switchover" {
                throw ValidationError("--switchover and --scenario \(scenario) contradict each other")
            }
            if RegionDrill.Kind(rawValue: scenario) != nil, failback || durability != nil || writers != 1 {
                throw ValidationError("--failback, --durability and --writers are not for the region scenario \(scenario)")
            }
            if failback, PartitionScenario(rawValue: scenario) != nil {
                throw ValidationError("--failback applies to kill-primary and switchover, not to the partition scenario \(scenario)")
            }
            guard (1...64).contains(writers) else { throw ValidationError("--writers must be between 1 and 64") }
            if whenShort != nil, durability == nil || durability == .async {
                throw ValidationError("--when-short applies to --durability sync or quorum")
            }
            guard (1...50).contains(runs) else { throw ValidationError("--runs must be between 1 and 50") }
            if let monitors {
                guard let network = PartitionScenario(rawValue: scenario) else {
                    throw ValidationError("--monitors applies to partition scenarios (\(PartitionScenario.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard monitors == 1 || monitors == 3 else { throw ValidationError("--monitors must be 1 or 3, found \(monitors)") }
                if network.needsSeveralMonitors, monitors != 3 { throw ValidationError("\(scenario) needs --monitors 3 (it is about several monitors over etcd)") }
            }
        }

        func run() async throws {
            if staging { return try await runStaging() }
            var detection = DetectionSettings.default
            var policy = FailoverPolicy.default
            if let config {
                let loaded = try loadingConfig { try ConfigLoader.load(path: config) }
                detection = loaded.detection
                policy = loaded.failover
            }
            var logger = Logger(label: "lifeboat") { label in
                logLevel == nil ? SwiftLogNoOpLogHandler() as any LogHandler : StreamLogHandler.standardError(label: label)
            }
            logger.logLevel = logLevel ?? .critical
            let chosen = DrillScenarios.named(switchover ? "switchover" : scenario) ?? KillPrimaryScenario()
            if let durability { policy.durability = DurabilityPolicy(mode: durability, whenShort: whenShort ?? .wait) }
            var drill = SandboxDrill(detection: detection, policy: policy, installPostgres: !noInstall, scenario: chosen, logger: logger)
            drill.writers = writers
            drill.failback = failback
            var partition: PartitionDrill?
            var region: RegionDrill?
            if let kind = RegionDrill.Kind(rawValue: scenario) {
                let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
                region = RegionDrill(kind: kind, binary: binary, detection: detection, install: !noInstall, logger: logger)
            }
            if let network = PartitionScenario(rawValue: scenario) {
                let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
                partition = PartitionDrill(scenario: network, binary: binary, detection: detection, policy: policy, install: !noInstall,
                                           monitors: monitors, logger: logger)
            }

            let task = Task {
                var reports: [DrillReport] = []
                for run in 1...runs {
                    if runs > 1 && !json { printError("drill \(run) of \(runs)…") }
                    let progress: @Sendable (String) -> Void = { if !json { printError($0) } }
                    let report = if let partition { try await partition.run(progress: progress) }
                        else if let region { try await region.run(progress: progress) } else { try await drill.run(progress: progress) }
                    reports.append(report)
                    if !json { print(report.text + "\n") }
                }
                return reports
            }
            let signals = Self.cancelOnSignals(task)
            defer { signals.forEach { $0.cancel() } }

            let reports: [DrillReport]
            do {
                reports = try await task.value
            } catch {
                if task.isCancelled {
                    printError("drill interrupted; PostgreSQL stopped and the sandbox removed")
                    throw ExitCode(130)
                }
                printError("drill failed: \(error)")
                throw ExitCode(1)
            }
            if !noReport {
                do {
                    let written = try DrillDocument.write(runs: reports, settings: settings(detection: detection, policy: policy), under: reportDir)
                    printError("report: \(written.directory)/report.html (and report.md, report.json; history in \(reportDir)/history.jsonl)")
                } catch {
                    printError("drill: cannot write the report under \(reportDir): \(error)")
                }
            }
            let rtos = reports.compactMap(\.rtoSeconds).sorted()
            let median = rtos.isEmpty ? nil : (rtos.count % 2 == 1 ? rtos[rtos.count / 2] : (rtos[rtos.count / 2 - 1] + rtos[rtos.count / 2]) / 2)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                let data: Data
                if runs == 1, let only = reports.first {
                    data = try encoder.encode(only)
                } else {
                    data = try encoder.encode(Summary(runs: reports, medianRtoSeconds: median))
                }
                print(String(decoding: data, as: UTF8.self))
            } else if runs > 1, let median {
                let all = rtos.map { String(format: "%.3f", $0) }.joined(separator: " ")
                print("median RTO over \(rtos.count) drills: \(String(format: "%.3f", median))s  (each: \(all))")
            }
            if !reports.allSatisfy(\.passed) { throw ExitCode(1) }
        }

        func runStaging() async throws {
            guard let config else { throw ValidationError("--staging needs --config FILE") }
            let loaded = try loadingConfig { try ConfigLoader.load(path: config) }
            let api = try APIOptions.parse(["--config", config])
            let quiet = json
            let drill = StagingDrill(configPath: config, config: loaded, api: api, progress: { if !quiet { printError($0) } })
            let report: DrillReport
            do {
                report = try await drill.run(confirm: confirm)
            } catch let refusal as StagingDrill.Refusal {
                printError("drill --staging refused: \(refusal)")
                throw ExitCode(1)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.text)
            }
            if !noReport {
                do {
                    var settings = self.settings(detection: loaded.detection, policy: loaded.failover)
                    settings["scenario"] = "staging-switchover"
                    settings["cluster"] = loaded.cluster
                    for key in ["writers", "failback", "runs"] { settings[key] = nil }
                    let written = try DrillDocument.write(runs: [report], settings: settings, under: reportDir)
                    printError("report: \(written.directory)/report.html (and report.md, report.json; history in \(reportDir)/history.jsonl)")
                } catch {
                    printError("drill: cannot write the report under \(reportDir): \(error)")
                }
            }
            if !report.passed { throw ExitCode(1) }
        }

        /// The settings the report shows, for people.
        func settings(detection: DetectionSettings, policy: FailoverPolicy) -> [String: String] {
            var s: [String: String] = [
                "scenario": switchover ? "switchover" : scenario,
                "detection.interval": DurationText.format(detection.interval),
                "detection.timeout": DurationText.format(detection.timeout),
                "detection.failure_threshold": String(detection.failureThreshold),
                "detection.recovery_threshold": String(detection.recoveryThreshold),
                "failover.max_lag_bytes": String(policy.maxLagBytes),
                "failover.max_lag_seconds": DurationText.format(policy.maxLagSeconds),
                "failover.rejoin": policy.rejoin.rawValue,
                "durability": policy.durability.managed ? "\(policy.durability.mode.rawValue) (when_short: \(policy.durability.whenShort.rawValue))" : "not managed",
                "replication_slots": policy.slots.managed ? "managed" : "not managed",
                "writers": String(writers),
                "failback": failback ? "yes" : "no",
                "runs": String(runs),
            ]
            if let ttl = policy.leaseTTL { s["failover.lease_ttl"] = DurationText.format(ttl) }
            if let monitors { s["monitors"] = String(monitors) }
            if let config { s["config"] = config }
            if RegionDrill.Kind(rawValue: scenario) != nil {
                s["failover.trigger"] = "region"
                s["failover.min_healthy"] = "1"
                s["application nodes per region"] = "2"
                s["failover.lease_ttl"] = "5s"
            } else {
                s["failover.trigger"] = policy.trigger.rawValue
            }
            return s
        }

        struct Summary: Encodable {
            var runs: [DrillReport]
            var medianRtoSeconds: Double?
        }

        /// Ctrl-C and SIGTERM cancel the drill, whose cleanup then stops PostgreSQL and removes the sandbox.
        static func cancelOnSignals(_ task: Task<[DrillReport], any Error>) -> [any DispatchSourceSignal] {
            [SIGINT, SIGTERM].map { signo in
                signal(signo, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
                source.setEventHandler { task.cancel() }
                source.resume()
                return source
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension DurabilityPolicy.Mode: ExpressibleByArgument {}
extension DurabilityPolicy.WhenShort: ExpressibleByArgument {}
