import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatHTTP

extension Lifeboat {
    struct Rejoin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a former primary (or any node that left) a streaming standby of the current primary.",
            discussion: """
                Through the node's agent (signed, under the current epoch): stops its PostgreSQL, finishes \
                crash recovery if it died, asks the primary for a CHECKPOINT, runs pg_rewind (it needs \
                wal_log_hints or data checksums; `lifeboat doctor` checks), keeps the node's own \
                postgresql.conf, pg_hba.conf and postgresql.auto.conf, writes standby.signal and \
                primary_conninfo, starts it and waits until it streams. The report names what only the old \
                timeline had: the fork LSN, the WAL range and the transactions in it (counted with \
                pg_waldump); the monitor keeps it in the journal (`lifeboat events`).

                With --reinit, a node pg_rewind cannot bring back gets a fresh pg_basebackup instead (its data \
                directory is emptied first): give --yes too. See also `lifeboat replica init`.
                """
        )
        @OptionGroup var options: APIOptions
        @Argument(help: "The node to make a standby (its name in lifeboat.yml).") var node: String
        @Flag(help: "Fall back to a fresh base backup where pg_rewind cannot be used (replaces the node's data).") var reinit = false
        @Flag(help: "Confirm that --reinit may replace the node's data.") var yes = false
        @Flag(help: "Print the monitor's report as JSON.") var json = false
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws {
            if reinit, !yes {
                printError("--reinit may replace \(node)'s data directory with a fresh copy of the primary: add --yes to confirm")
                throw ExitCode(2)
            }
            try await Self.send(RejoinRequest(node: node, reinit: reinit ? .fallback : .never, by: by), options: options, json: json,
                                plan: reinit ? "with pg_rewind, or a fresh base backup where pg_rewind cannot be used" : "with pg_rewind")
        }

        /// Says what will happen, sends the request (a rejoin can take as long as copying the
        /// database), and prints the report or why not.
        static func send(_ request: RejoinRequest, options: APIOptions, json: Bool, plan: String) async throws {
            if !json {
                print("Rejoining \(request.node) as a standby of the current primary \(plan): stop, rewind, configure, start, wait until it streams…")
            }
            let (status, data) = try await options.call("POST", "/v1/rejoin", body: request, authenticated: true, timeout: .hours(6))
            switch status {
            case 200:
                let report = try options.decode(RejoinReport.self, data)
                if json { print(String(decoding: data, as: UTF8.self)); return }
                print(report.summary)
                for phase in report.phases { print("  \(phase.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(format: "%6d", phase.milliseconds)) ms  \(phase.detail)") }
                if let d = report.discarded {
                    print("Discarded (only on the old timeline): WAL \(d.from) to \(d.to), \(d.bytes) bytes, "
                          + (d.transactions.map { "\($0) transaction(s)" + (d.transactionIds.isEmpty ? "" : ", xids \(d.transactionIds.map(String.init).joined(separator: " "))") }
                             ?? "transactions not counted (\(d.countError ?? "pg_waldump failed"))"))
                }
                if !report.streaming { throw ExitCode(1) }
            case 500:
                let failure = try options.decode(RejoinFailure.self, data)
                if json { print(String(decoding: data, as: UTF8.self)) }
                printError("rejoin of \(request.node) stopped at \(failure.step): \(failure.error)")
                for phase in failure.phases { printError("  done: \(phase.name) (\(phase.milliseconds) ms) \(phase.detail)") }
                throw ExitCode(1)
            default:
                printError("no rejoin: \(try options.decode(MessageView.self, data).message)")
                throw ExitCode(1)
            }
        }
    }

    struct Replica: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Standby management.",
            subcommands: [ReplicaInit.self]
        )
    }

    struct ReplicaInit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Build (or rebuild) a standby from a fresh base backup of the primary, through its agent.",
            discussion: """
                Empties the node's data directory, runs pg_basebackup from the primary, puts back the node's \
                own postgresql.conf, pg_hba.conf, pg_ident.conf and postgresql.auto.conf (when they live in the \
                data directory), writes standby.signal and primary_conninfo, starts it and waits until it \
                streams. Needs --yes: the node's data is replaced.
                """
        )
        @OptionGroup var options: APIOptions
        @Argument(help: "The node to build as a standby.") var node: String
        @Option(help: "The primary to copy (refused unless it is the current primary).") var from: String?
        @Flag(help: "Confirm that the node's data is replaced.") var yes = false
        @Flag(help: "Print the monitor's report as JSON.") var json = false
        @Option(help: "Who asks (journaled).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

        func run() async throws {
            guard yes else {
                printError("replica init replaces \(node)'s data directory with a fresh copy of the primary: add --yes to confirm")
                throw ExitCode(2)
            }
            try await Rejoin.send(RejoinRequest(node: node, reinit: .always, from: from, by: by), options: options, json: json,
                                  plan: "from a fresh base backup")
        }
    }
}

extension Duration {
    static func hours(_ n: Int64) -> Duration { .seconds(n * 3600) }
}
