import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import Logging

/// What pg_controldata says about a stopped data directory, typed once where its lines are read.
struct ControlData: Sendable, Equatable {
    enum State: Sendable, Equatable {
        case shutDown, shutDownInRecovery, inProduction, other(String)
    }

    var state: State
    var timeline: UInt32?
    /// Where replay of the last checkpoint starts.
    var redo: LSN?
    /// The last checkpoint record itself (`Latest checkpoint location`): after a clean shutdown,
    /// the shutdown checkpoint, the last record the node wrote.
    var checkpoint: LSN?
    /// `initdb --wal-segsize` (16 MiB by default).
    var segmentBytes: UInt64

    /// Parses `pg_controldata`'s `Name: value` lines (LANG=C).
    init(parsing output: String) {
        var fields: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].trimmingCharacters(in: .whitespaces)] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        state = switch fields["Database cluster state"] ?? "" {
        case "shut down": .shutDown
        case "shut down in recovery": .shutDownInRecovery
        case "in production": .inProduction
        case let other: .other(other)
        }
        timeline = fields["Latest checkpoint's TimeLineID"].flatMap { UInt32($0) }
        redo = fields["Latest checkpoint's REDO location"].flatMap { LSN($0) }
        checkpoint = fields["Latest checkpoint location"].flatMap { LSN($0) }
        segmentBytes = fields["Bytes per WAL segment"].flatMap { UInt64($0) }.flatMap { $0 > 0 ? $0 : nil } ?? 16 << 20
    }

    var cleanlyShutDown: Bool { state == .shutDown || state == .shutDownInRecovery }
}

/// `demote` refused before doing anything (answered 409).
public struct DemoteRefusal: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// What `pg_rewind --dry-run` found, typed once where its lines are read.
enum RewindPlan: Sendable, Equatable {
    /// The node's WAL ends at or before the fork: it can follow the primary as it is.
    case notNeeded(fork: (lsn: LSN, timeline: UInt32)?)
    case rewind(fork: LSN, timeline: UInt32)

    static func == (lhs: RewindPlan, rhs: RewindPlan) -> Bool {
        switch (lhs, rhs) {
        case (.rewind(let a, let b), .rewind(let c, let d)): a == c && b == d
        case (.notNeeded(let a), .notNeeded(let b)): a?.lsn == b?.lsn && a?.timeline == b?.timeline
        default: false
        }
    }

    /// pg_rewind prints "servers diverged at WAL location 0/3018058 on timeline 1" and, when the
    /// target's WAL ends before that point, "no rewind required".
    static func parse(_ output: String) -> RewindPlan? {
        var fork: (LSN, UInt32)?
        var notRequired = false
        for line in output.split(separator: "\n") {
            if line.contains("no rewind required") { notRequired = true }
            if let range = line.range(of: "servers diverged at WAL location ") {
                let words = line[range.upperBound...].split(separator: " ")
                if words.count >= 4, let lsn = LSN(words[0]), words[1] == "on", words[2] == "timeline", let tli = UInt32(words[3]) {
                    fork = (lsn, tli)
                }
            }
        }
        if notRequired { return .notNeeded(fork: fork.map { (lsn: $0.0, timeline: $0.1) }) }
        if let fork { return .rewind(fork: fork.0, timeline: fork.1) }
        return nil
    }
}

/// One WAL record as pg_waldump prints it.
struct WALRecord: Sendable, Equatable {
    var resourceManager: String
    var lsn: LSN
    var totalLength: UInt64
    var xid: UInt32
    /// The description's first word: COMMIT, ABORT, INSERT, CHECKPOINT_SHUTDOWN, …
    var operation: String

    var isCommit: Bool { resourceManager == "Transaction" && (operation == "COMMIT" || operation == "COMMIT_PREPARED") }
    var end: LSN { LSN(lsn.value + totalLength) }

    /// `rmgr: Heap        len (rec/tot):     59/    59, tx:        725, lsn: 0/03018058, prev 0/03017EA8, desc: INSERT off 2 …`
    init?(line: Substring) {
        guard line.hasPrefix("rmgr: ") else { return nil }
        func field(_ name: String) -> Substring? {
            guard let r = line.range(of: name) else { return nil }
            return line[r.upperBound...].drop(while: { $0 == " " })
        }
        guard let rm = field("rmgr: ")?.split(separator: " ").first,
              let lengths = field("len (rec/tot): ")?.split(separator: ",").first?.split(separator: "/"), lengths.count == 2,
              let total = UInt64(lengths[1].trimmingCharacters(in: .whitespaces)),
              let tx = field("tx: ")?.split(separator: ",").first.flatMap({ UInt32($0.trimmingCharacters(in: .whitespaces)) }),
              let lsnText = field("lsn: ")?.split(separator: ",").first, let lsn = LSN(lsnText),
              let desc = field("desc: ")
        else { return nil }
        resourceManager = String(rm)
        totalLength = total
        xid = tx
        self.lsn = lsn
        operation = String(desc.prefix(while: { !$0.isWhitespace && $0 != ";" }))
    }
}

/// A libpq connection string from typed parts (values quoted as libpq reads them).
func conninfo(_ parts: [(String, String?)]) -> String {
    parts.compactMap { key, value in
        guard let value else { return nil }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        return "\(key)='\(escaped)'"
    }.joined(separator: " ")
}

extension Agent {
    /// Makes this node a streaming standby of the primary named in `order`: stop, complete crash
    /// recovery if it was not shut down cleanly, pg_rewind (or, as ordered, a fresh pg_basebackup),
    /// the node's own configuration files back, standby.signal and primary_conninfo, start, and
    /// wait until it streams. Refused under an epoch older than one this agent has seen, on the
    /// node the primary lease is held for, and while another rejoin runs here.
    /// Stops this node's PostgreSQL cleanly for a switchover (the monitor fenced it first) and says
    /// where its WAL ends: the shutdown checkpoint, which its WAL senders sent before it exited.
    /// Idempotent: a node already shut down cleanly answers with its control file's checkpoint.
    public func demote(epoch: UInt64) async throws -> DemoteResult {
        guard let control = config.postgresql else {
            throw DemoteRefusal(description: "this agent has no postgresql: section (bin_dir, data_directory, run_as): it cannot stop PostgreSQL; see docs/agent.md")
        }
        try epochs.admit(epoch)
        noteFenced(under: epoch)
        logger.warning("demote ordered (switchover)", metadata: ["demote.epoch": "\(epoch)"])
        let tools = PostgresTools(control: control, logger: logger)
        let stopped = try await tools.stop()
        await postgres?.dropProbeConnection()
        let data = try await tools.controlData()
        guard data.cleanlyShutDown, let checkpoint = data.checkpoint else {
            throw AgentError("PostgreSQL is stopped but not shut down cleanly (pg_controldata: \(data.state)); it needs crash recovery and a rewind to rejoin")
        }
        return DemoteResult(checkpoint: checkpoint.description, timeline: data.timeline,
                            detail: "\(stopped); its WAL ends with the shutdown checkpoint at \(checkpoint) on timeline \(data.timeline.map(String.init) ?? "?")")
    }

    public func rejoin(_ order: RejoinOrder) async throws(RejoinFailure) -> RejoinReport {
        var run = RejoinRun(node: config.node, primary: order.primary)
        guard let control = config.postgresql else {
            throw run.fail("check", "this agent has no postgresql: section (bin_dir, data_directory, run_as, replication_user, passfile); see docs/agent.md")
        }
        do { try epochs.admit(order.epoch) } catch { throw run.fail("check", "\(error)") }
        guard order.primary != config.node else { throw run.fail("check", "\(config.node) is the primary named in the order; a primary does not rejoin itself") }
        if let slot = order.slot, slot.isEmpty || slot.utf8.count > 63
            || !slot.unicodeScalars.allSatisfy({ ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }) {
            throw run.fail("check", "slot: a replication slot name is 1 to 63 lower-case letters, digits and '_'")
        }
        guard rejoinBusy.withLock({ busy in defer { busy = true }; return !busy }) else {
            throw run.fail("check", "a rejoin of \(config.node) is already running")
        }
        defer { rejoinBusy.withLock { $0 = false } }
        // A lease still counted as held by a server the monitor fenced (read-only) or that is down
        // is moot; one held by a server taking writes means this node is the primary after all.
        if let keeper = leaseKeeper, await keeper.snapshot().held, await currentRole() == .primary {
            throw run.fail("check", "this node's PostgreSQL takes writes and its agent holds the primary lease: it is the primary, not a node to rejoin")
        }
        logger.warning("rejoin ordered", metadata: ["rejoin.primary": "\(order.primary)", "rejoin.epoch": "\(order.epoch)", "rejoin.reinit": "\(order.reinit.rawValue)"])
        let tools = PostgresTools(control: control, logger: logger)

        if order.reinit != .always, let postgres, case .reachable(let status) = await postgres.probe(timeout: .seconds(2)),
           status.inRecovery, case .streaming(let upstream) = status.walReceiver, upstream == order.host {
            run.phase("check", "already streaming from \(order.host)")
            clearFence()
            return run.report(.alreadyStreaming, streaming: true, detail: "already a streaming standby of \(order.primary)")
        }
        run.phase("check", "under epoch \(order.epoch); the primary is \(order.primary) at \(order.host):\(order.port)")

        // 1. Stop it. A writable server here is a stray primary: stopping it is what makes it safe.
        do { run.phase("stop", try await tools.stop()) } catch { throw run.fail("stop", "\(error)") }
        await postgres?.dropProbeConnection()

        // 2. A node that crashed (or was killed) finishes crash recovery in single-user mode first,
        //    as pg_rewind needs: no client can connect to it meanwhile.
        var controlData: ControlData
        // Where its own WAL ended before crash recovery added records of its own (the discarded
        // range stops there).
        var walEnd: LSN?
        do {
            controlData = try await tools.controlData()
            if !controlData.cleanlyShutDown {
                if let redo = controlData.redo, let tli = controlData.timeline {
                    walEnd = await tools.records(from: redo, timeline: tli, segmentBytes: controlData.segmentBytes).records.last?.end
                }
                run.phase("recover", try await tools.singleUserRecovery())
                controlData = try await tools.controlData()
            }
        } catch { throw run.fail("recover", "\(error)") }

        let source = conninfo([("host", order.host), ("port", String(order.port)), ("user", control.replicationUser),
                               ("dbname", "postgres"), ("sslmode", control.sslmode.rawValue), ("passfile", control.passfile)])
        var method = RejoinReport.Method.reinit
        var discarded: RejoinReport.Discarded?
        if order.reinit != .always {
            // 3. What would pg_rewind do? It reads the primary's timeline from its control file, which
            //    a just-promoted server updates only at its next checkpoint: ask for one first.
            run.phase("checkpoint", await tools.checkpoint(source: source))
            let plan: RewindPlan
            do {
                plan = try await tools.rewindPlan(source: source)
            } catch {
                guard order.reinit == .fallback else {
                    throw run.fail("plan", "pg_rewind cannot bring \(config.node) back: \(error). Rejoin with --reinit for a fresh base backup (this node's data is replaced)")
                }
                run.phase("plan", "pg_rewind cannot be used (\(error)); a fresh base backup instead")
                plan = .rewind(fork: LSN(0), timeline: 0)
                method = .reinit
            }
            switch plan {
            case .notNeeded(let fork):
                method = .noRewindNeeded
                run.phase("plan", "no rewind needed" + (fork.map { ": its WAL ends at or before the fork at \($0.lsn) on timeline \($0.timeline)" } ?? ""))
            case .rewind(let fork, let timeline) where timeline > 0:
                method = .rewind
                run.phase("plan", "diverged at \(fork) on timeline \(timeline)")
                // 4. Count what only this node has, before pg_rewind replaces its WAL.
                discarded = await tools.discardedRange(fork: fork, forkTimeline: timeline, ownTimeline: controlData.timeline ?? timeline, until: walEnd, segmentBytes: controlData.segmentBytes)
                run.phase("count", discarded.map { d in d.transactions.map { "\($0) transactions in \(d.from)–\(d.to)" } ?? "not counted: \(d.countError ?? "")" } ?? "")
            case .rewind:
                break
            }
        }

        // 5. The node's own configuration, kept across the rewind or base backup.
        let saved: SavedConfiguration
        do { saved = try SavedConfiguration(control: control) } catch { throw run.fail("save-config", "\(error)") }
        run.phase("save-config", saved.files.map { ($0.path as NSString).lastPathComponent }.joined(separator: ", "))

        do {
            switch method {
            case .rewind: run.phase("rewind", try await tools.rewind(source: source))
            case .reinit: run.phase("base-backup", try await tools.baseBackup(host: order.host, port: order.port, slot: order.slot))
            case .noRewindNeeded, .alreadyStreaming: break
            }
        } catch { throw run.fail(method == .rewind ? "rewind" : "base-backup", "\(error)") }

        // 6. Its own settings back, and a standby of the primary.
        let primaryConninfo = conninfo([("host", order.host), ("port", String(order.port)), ("user", control.replicationUser),
                                        ("application_name", config.node), ("sslmode", control.sslmode.rawValue), ("passfile", control.passfile)])
        do { run.phase("configure", try saved.restoreAsStandby(primaryConninfo: primaryConninfo, slot: order.slot, control: control)) } catch { throw run.fail("configure", "\(error)") }

        // 7. Start and wait until it streams.
        do { run.phase("start", try await tools.start()) } catch { throw run.fail("start", "\(error)") }
        var streaming = false
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(60))
        var last = "not probed"
        while clock.now < deadline {
            if let postgres {
                switch await postgres.probe(timeout: .seconds(2)) {
                case .reachable(let status):
                    if status.inRecovery, status.isStreaming { streaming = true }
                    last = status.inRecovery ? "in recovery, WAL receiver \(status.walReceiver)" : "not in recovery"
                case .unreachable(let failure): last = failure.detail
                }
            }
            if streaming { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        run.phase("stream", streaming ? "streaming from \(order.host)" : "not streaming after 60s: \(last)")
        clearFence()
        let report = run.report(method, streaming: streaming, discarded: discarded, detail: streaming ? "streaming" : last)
        logger.warning("rejoin finished", metadata: ["rejoin.summary": "\(report.summary)"])
        return report
    }
}

/// Times the phases of one rejoin.
struct RejoinRun {
    let node: String
    let primary: String
    var phases: [RejoinReport.Phase] = []
    let clock = ContinuousClock()
    var mark: ContinuousClock.Instant

    init(node: String, primary: String) {
        self.node = node
        self.primary = primary
        mark = clock.now
    }

    mutating func phase(_ name: String, _ detail: String) {
        let now = clock.now
        phases.append(.init(name: name, milliseconds: mark.duration(to: now).milliseconds, detail: detail))
        mark = now
    }

    func fail(_ step: String, _ error: String) -> RejoinFailure { RejoinFailure(step: step, error: error, phases: phases) }

    func report(_ method: RejoinReport.Method, streaming: Bool, discarded: RejoinReport.Discarded? = nil, detail: String) -> RejoinReport {
        RejoinReport(node: node, primary: primary, method: method, discarded: discarded, phases: phases, streaming: streaming, detail: detail)
    }
}

/// The node's own postgresql.conf, pg_hba.conf, pg_ident.conf and postgresql.auto.conf, as they
/// were before pg_rewind or pg_basebackup copied the primary's over them.
struct SavedConfiguration {
    struct File {
        var path: String
        var contents: Data
        var owner: (uid_t, gid_t)?
        var mode: Int?
    }

    var files: [File]

    init(control: PostgresControl) throws {
        var names = ["postgresql.auto.conf"].map { "\(control.dataDirectory)/\($0)" }
        if control.configDirectory == nil {
            names += ["postgresql.conf", "pg_hba.conf", "pg_ident.conf"].map { "\(control.dataDirectory)/\($0)" }
        }
        let fm = FileManager.default
        files = try names.compactMap { path in
            guard fm.fileExists(atPath: path) else { return nil }
            guard let data = fm.contents(atPath: path) else { throw AgentError("cannot read \(path)") }
            let attributes = try? fm.attributesOfItem(atPath: path)
            let owner = (attributes?[.ownerAccountID] as? NSNumber).flatMap { uid in
                (attributes?[.groupOwnerAccountID] as? NSNumber).map { (uid_t(uid.uint32Value), gid_t($0.uint32Value)) }
            }
            return File(path: path, contents: data, owner: owner, mode: (attributes?[.posixPermissions] as? NSNumber)?.intValue)
        }
    }

    /// Writes the saved files back; postgresql.auto.conf without a read-only fence and with this
    /// rejoin's primary_conninfo; standby.signal. Returns what it did, in words.
    func restoreAsStandby(primaryConninfo: String, slot: String?, control: PostgresControl) throws -> String {
        let auto = "\(control.dataDirectory)/postgresql.auto.conf"
        var restored: [String] = []
        var autoOwner: (uid_t, gid_t)?
        for file in files {
            var contents = file.contents
            if file.path == auto {
                autoOwner = file.owner
                contents = Data(Self.standbyAutoConf(String(decoding: file.contents, as: UTF8.self), primaryConninfo: primaryConninfo, slot: slot).utf8)
            }
            try Self.write(contents, to: file.path, owner: file.owner ?? Self.owner(of: control.dataDirectory), mode: file.mode ?? 0o600)
            restored.append((file.path as NSString).lastPathComponent)
        }
        if !files.contains(where: { $0.path == auto }) {
            try Self.write(Data(Self.standbyAutoConf("", primaryConninfo: primaryConninfo, slot: slot).utf8), to: auto,
                           owner: autoOwner ?? Self.owner(of: control.dataDirectory), mode: 0o600)
        }
        try? FileManager.default.removeItem(atPath: "\(control.dataDirectory)/recovery.signal")
        try Self.write(Data(), to: "\(control.dataDirectory)/standby.signal", owner: Self.owner(of: control.dataDirectory), mode: 0o600)
        // Lifeboat's slots from its time as primary (pg_rewind leaves pg_replslot alone) would hold
        // WAL back on a standby for no one; the monitor makes new ones if it is primary again.
        let slots = "\(control.dataDirectory)/pg_replslot"
        var dropped: [String] = []
        for entry in ((try? FileManager.default.contentsOfDirectory(atPath: slots)) ?? []).sorted() where entry.hasPrefix(ReplicationSlots.prefix) {
            try FileManager.default.removeItem(atPath: "\(slots)/\(entry)")
            dropped.append(entry)
        }
        let droppedText = dropped.isEmpty ? "" : "; dropped its old slot(s) \(dropped.joined(separator: ", "))"
        return "kept its own \(restored.joined(separator: ", ")); standby.signal and primary_conninfo\(slot.map { " (slot \($0))" } ?? "") written\(droppedText)"
    }

    /// The node's own auto.conf lines, minus a read-only fence and any earlier primary_conninfo or
    /// primary_slot_name, plus the new primary_conninfo (and slot).
    static func standbyAutoConf(_ text: String, primaryConninfo: String, slot: String? = nil) -> String {
        let dropped: Set<String> = ["default_transaction_read_only", "primary_conninfo", "primary_slot_name"]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            ReadOnlyStart.settingName(of: line).map { !dropped.contains($0) } ?? true
        }.map(String.init)
        if lines.isEmpty || lines == [""] {
            lines = ["# Do not edit this file manually!", "# It will be overwritten by the ALTER SYSTEM command."]
        }
        while lines.last == "" { lines.removeLast() }
        lines.append("primary_conninfo = '\(primaryConninfo.replacingOccurrences(of: "'", with: "''"))'")
        if let slot { lines.append("primary_slot_name = '\(slot)'") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func owner(of path: String) -> (uid_t, gid_t)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_uid, info.st_gid)
    }

    static func write(_ data: Data, to path: String, owner: (uid_t, gid_t)?, mode: Int) throws {
        let temporary = path + ".lifeboat"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: mode]) else {
            throw AgentError("cannot write \(temporary)")
        }
        if let owner, geteuid() == 0 { _ = chown(temporary, owner.0, owner.1) }
        guard rename(temporary, path) == 0 else { throw AgentError("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }
}

/// PostgreSQL's programs as this node's agent runs them: as `run_as`, with the passfile, bounded.
struct PostgresTools {
    let control: PostgresControl
    let logger: Logging.Logger

    private func argv(_ tool: String, _ arguments: [String]) -> [String] {
        var command = control.commandPrefix
        if let user = control.runAs, geteuid() == 0, getpwnam(user).map({ $0.pointee.pw_uid }) != geteuid() {
            command += ["/usr/sbin/runuser", "-u", user, "--"]
        }
        return command + ["\(control.binDirectory)/\(tool)"] + arguments
    }

    private var environment: [String: String] {
        var env = ["LC_ALL": "C", "LANG": "C"]
        if let passfile = control.passfile { env["PGPASSFILE"] = passfile }
        return env
    }

    func run(_ tool: String, _ arguments: [String], timeout: Duration) async throws -> ProcessOutcome {
        do {
            return try await ProcessRunner.run(argv(tool, arguments), timeout: timeout, environment: environment)
        } catch {
            throw AgentError("cannot run \(control.binDirectory)/\(tool): \(error)")
        }
    }

    private var ctlDirectory: String { control.configDirectory ?? control.dataDirectory }
    private var configFileArguments: [String] { control.configDirectory.map { ["--config-file=\($0)/postgresql.conf"] } ?? [] }

    func stop() async throws -> String {
        let outcome = try await run("pg_ctl", ["stop", "-D", ctlDirectory, "-m", "fast", "-w", "-t", "60"], timeout: .seconds(70))
        if outcome.succeeded { return "pg_ctl stop -m fast: stopped" }
        let status = try await run("pg_ctl", ["status", "-D", ctlDirectory], timeout: .seconds(10))
        if status.exitCode == 3 { return "was not running" }
        if status.exitCode == 4 { throw AgentError("no data directory at \(ctlDirectory)") }
        throw AgentError("pg_ctl stop: \(outcome.describe(timeout: .seconds(70)))")
    }

    func controlData() async throws -> ControlData {
        let outcome = try await run("pg_controldata", ["-D", control.dataDirectory], timeout: .seconds(20))
        guard outcome.succeeded else { throw AgentError("pg_controldata: \(outcome.describe(timeout: .seconds(20)))") }
        return ControlData(parsing: outcome.output)
    }

    /// `postgres --single` on the stopped data directory: crash recovery, then a clean shutdown.
    /// Runs once the killed server's last processes (a backend's working directory is the data
    /// directory) are gone — they hold the directory until they notice (up to 20 s).
    func singleUserRecovery() async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(20))
        var holders = Self.processes(workingIn: control.dataDirectory)
        while !holders.isEmpty, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
            holders = Self.processes(workingIn: control.dataDirectory)
        }
        guard holders.isEmpty else {
            throw AgentError("processes \(holders.map(String.init).joined(separator: ", ")) still run in \(control.dataDirectory) 20 s after the server stopped")
        }
        var arguments = ["--single", "-F", "-D", control.dataDirectory]
        if let dir = control.configDirectory { arguments += ["-c", "config_file=\(dir)/postgresql.conf"] }
        arguments.append("template1")
        let outcome = try await run("postgres", arguments, timeout: .seconds(600))
        guard outcome.succeeded else { throw AgentError("postgres --single: \(outcome.describe(timeout: .seconds(600)))") }
        return "crash recovery finished in single-user mode (\(outcome.duration.milliseconds) ms)"
    }

    /// Live processes whose working directory is `directory` (/proc/PID/cwd; a zombie has none).
    static func processes(workingIn directory: String) -> [Int32] {
        let fm = FileManager.default
        let target = (directory as NSString).resolvingSymlinksInPath
        return ((try? fm.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let cwd = try? fm.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd") else { return nil }
            return cwd == target ? pid : nil
        }
    }

    /// `CHECKPOINT` on the primary (superuser or `pg_checkpoint`); its failure is reported, not fatal.
    func checkpoint(source: String) async -> String {
        do {
            let outcome = try await run("psql", ["-X", "-q", "-d", source, "-c", "CHECKPOINT"], timeout: .seconds(300))
            if outcome.succeeded { return "CHECKPOINT on the primary (\(outcome.duration.milliseconds) ms)" }
            return "CHECKPOINT on the primary failed (grant pg_checkpoint to the replication role): " + (Self.firstError(outcome.errorOutput) ?? outcome.describe(timeout: .seconds(300)))
        } catch {
            return "CHECKPOINT on the primary not run: \(error)"
        }
    }

    func rewindPlan(source: String) async throws -> RewindPlan {
        let outcome = try await run("pg_rewind", ["--dry-run", "-D", control.dataDirectory, "--source-server=\(source)"] + configFileArguments,
                                    timeout: .seconds(300))
        let text = outcome.errorOutput + "\n" + outcome.output
        guard outcome.succeeded, let plan = RewindPlan.parse(text) else {
            throw AgentError(Self.firstError(text) ?? "pg_rewind --dry-run: \(outcome.describe(timeout: .seconds(300)))")
        }
        return plan
    }

    func rewind(source: String) async throws -> String {
        let outcome = try await run("pg_rewind", ["-D", control.dataDirectory, "--source-server=\(source)"] + configFileArguments, timeout: .seconds(3600))
        guard outcome.succeeded else {
            throw AgentError(Self.firstError(outcome.errorOutput + "\n" + outcome.output) ?? "pg_rewind: \(outcome.describe(timeout: .seconds(3600)))")
        }
        return "pg_rewind finished (\(outcome.duration.milliseconds) ms)"
    }

    /// Empties the data directory (keeping the directory, its owner and mode) and clones the primary.
    /// With `slot`, the backup's WAL streams through the node's slot (which then holds the WAL from
    /// the backup's start until the standby streams through it).
    func baseBackup(host: String, port: Int, slot: String? = nil) async throws -> String {
        let fm = FileManager.default
        for entry in (try? fm.contentsOfDirectory(atPath: control.dataDirectory)) ?? [] {
            try fm.removeItem(atPath: "\(control.dataDirectory)/\(entry)")
        }
        let outcome = try await run("pg_basebackup", ["-D", control.dataDirectory, "-d",
                                                      conninfo([("host", host), ("port", String(port)), ("user", control.replicationUser),
                                                                ("sslmode", control.sslmode.rawValue), ("passfile", control.passfile)]),
                                                      "-X", "stream", "-c", "fast"] + (slot.map { ["-S", $0] } ?? []), timeout: .seconds(6 * 3600))
        guard outcome.succeeded else {
            throw AgentError(Self.firstError(outcome.errorOutput) ?? "pg_basebackup: \(outcome.describe(timeout: .seconds(6 * 3600)))")
        }
        return "pg_basebackup from \(host):\(port) finished (\(outcome.duration.milliseconds) ms)"
    }

    func start() async throws -> String {
        var arguments = ["start", "-D", ctlDirectory, "-w", "-t", "120"]
        if let log = control.logFile { arguments += ["-l", log] }
        let outcome = try await run("pg_ctl", arguments, timeout: .seconds(130))
        guard outcome.succeeded else { throw AgentError("pg_ctl start: \(outcome.describe(timeout: .seconds(130)))") }
        return "pg_ctl start: started"
    }

    /// The WAL records from `start` to the end of valid WAL (pg_waldump stops with an error there).
    func records(from start: LSN, timeline: UInt32, segmentBytes: UInt64) async -> (records: [WALRecord], error: String?) {
        let outcome: ProcessOutcome
        do {
            outcome = try await run("pg_waldump", ["-p", "\(control.dataDirectory)/pg_wal", "--timeline", String(timeline), "--start", start.description],
                                    timeout: .seconds(300))
        } catch {
            return ([], "\(error)")
        }
        let records = outcome.output.split(separator: "\n").compactMap(WALRecord.init(line:)).filter { $0.lsn >= start }
        // pg_waldump always ends with an error at the end of valid WAL. No record at all is the WAL
        // ending right at `start` when the segment holding `start` is there; without it, unreadable.
        let segment = Self.segmentFile(timeline: timeline, lsn: start, segmentBytes: segmentBytes)
        let readable = !records.isEmpty || FileManager.default.fileExists(atPath: "\(control.dataDirectory)/pg_wal/\(segment)")
        return (records, readable ? nil : "no WAL segment \(segment) in pg_wal: " + (Self.firstError(outcome.errorOutput) ?? outcome.describe(timeout: .seconds(300))))
    }

    /// The WAL segment file name holding `lsn` (`TTTTTTTTXXXXXXXXYYYYYYYY`).
    static func segmentFile(timeline: UInt32, lsn: LSN, segmentBytes: UInt64) -> String {
        let number = lsn.value / segmentBytes
        let perLogID = 0x1_0000_0000 / segmentBytes
        return String(format: "%08X%08X%08X", timeline, UInt32(truncatingIfNeeded: number / perLogID), UInt32(truncatingIfNeeded: number % perLogID))
    }

    /// The WAL this node has after the fork (up to `until`, where its WAL ended before crash
    /// recovery), read with pg_waldump before pg_rewind replaces it.
    func discardedRange(fork: LSN, forkTimeline: UInt32, ownTimeline: UInt32, until: LSN?, segmentBytes: UInt64) async -> RejoinReport.Discarded {
        var result = RejoinReport.Discarded(forkLSN: fork.description, forkTimeline: forkTimeline, from: fork.description, to: fork.description,
                                            bytes: 0, transactions: nil, transactionIds: [])
        let (all, error) = await records(from: fork, timeline: ownTimeline, segmentBytes: segmentBytes)
        if let error {
            result.countError = error
            return result
        }
        let records = all.filter { until == nil || $0.lsn < until! }
        guard let last = records.last else {
            result.transactions = 0
            return result
        }
        let commits = records.filter(\.isCommit)
        result.to = last.end.description
        result.bytes = last.end.bytes(after: fork)
        result.transactions = commits.count
        result.transactionIds = Array(commits.map(\.xid).prefix(100))
        return result
    }

    /// The first "error:" line a PostgreSQL tool printed, without the program's prefix.
    static func firstError(_ text: String) -> String? {
        text.split(separator: "\n").first { $0.contains("error:") || $0.contains("FATAL:") }.map { line in
            line.split(separator: ":", maxSplits: 1).count == 2 && line.hasPrefix("pg_") ? line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) : String(line)
        }
    }
}
