import Foundation
import LifeboatCore
import LifeboatMonitor
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// File replication through a failover, with real rsync, real PostgreSQL, the agents and the
/// monitor as production runs them: a large pull in flight when the standby is promoted is
/// cancelled with nothing of it left, what the old region writes once the failover has begun never
/// arrives, and what the new primary's application writes stays that version in both regions.
@Suite(.serialized) struct FilesThroughAFailoverTests {
    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// Every file and directory under `root`, relative.
    func listing(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func aFailoverCancelsTheRunningPullAndFilesFollowTheNewPrimaryOnly() async throws {
        try await withSandboxCluster { cluster in
            let us = cluster.primary, eu = cluster.standbys[0]
            let drill = SandboxDrill(logger: testLogger())
            let apiPort = try FreePort.find(bindableOn: [cluster.block.apiAddress])
            // 4 MiB/s: a 40 MiB file takes about 10 s to pull.
            let agents = try SandboxAgents(cluster: cluster, monitor: "http://\(cluster.block.apiAddress):\(apiPort)", bandwidthLimitKiB: 4096,
                                           logger: testLogger())
            try await agents.start(logger: testLogger())
            defer { Task { await agents.stop() } }
            let config = try drill.monitorConfig(cluster, knot: nil, agents: agents, apiPort: apiPort)
            let monitor = try MonitorAssembly(config: config, statePath: "\(cluster.directory)/monitor/state.db", logger: testLogger(),
                                              options: .init(signals: []))
            guard let engine = monitor.engine else { throw DrillFailure("the drill runs a single monitor") }
            let task = Task { try await monitor.run() }
            defer { task.cancel() }
            try await waitFor("lease held by \(us.name)", timeout: .seconds(20)) {
                guard case .monitoring(us.name) = await engine.state else { return false }
                return await engine.lease.map { $0.holder == us.name && !$0.released } == true
            }
            let usFiles = SandboxAgents.uploads(cluster, region: us.region), euFiles = SandboxAgents.uploads(cluster, region: eu.region)

            // Before the fault: an application file both regions hold.
            try "old\n".write(toFile: "\(usFiles)/shared.txt", atomically: true, encoding: .utf8)
            try await waitFor("shared.txt in eu-west") { read("\(euFiles)/shared.txt") == "old\n" }

            // A large file in the primary region; wait until eu-west's rsync is pulling it.
            let big = Data((0..<(40 << 20)).map { _ in UInt8.random(in: 0...255) })
            // Written beside the directory and moved in whole, so no pass sees a part of it.
            try big.write(to: URL(fileURLWithPath: "\(cluster.directory)/big.bin"))
            try FileManager.default.moveItem(atPath: "\(cluster.directory)/big.bin", toPath: "\(usFiles)/big.bin")
            try await waitFor("the large pull under way", timeout: .seconds(40)) {
                listing(euFiles).contains { $0.hasPrefix(".~tmp~") || $0.hasPrefix(".big.bin.") }
            }

            // The primary's machine dies (its database): a failover to eu-west.
            _ = try await cluster.kill(us)
            try await waitFor("epoch 1 stored", timeout: .seconds(20)) { await engine.epoch.value >= 1 }
            // The old region's application goes on writing after the failover began.
            try "written in us-east after the epoch was bumped\n".write(toFile: "\(usFiles)/late.txt", atomically: true, encoding: .utf8)
            try await waitFor("failover to eu-west complete", timeout: .seconds(30)) {
                if case .monitoring(eu.name) = await engine.state { return true } else { return false }
            }
            // The new primary's application writes right after the promotion.
            try "new\n".write(toFile: "\(euFiles)/shared.txt", atomically: true, encoding: .utf8)
            try "written in eu-west after the promotion\n".write(toFile: "\(euFiles)/after.txt", atomically: true, encoding: .utf8)

            // The running pull was cancelled before the promotion, and nothing of it is left.
            let promoted = engine.journal.entries.first { if case .stepSucceeded(.promote, _) = $0.kind { return true } else { return false } }
            let replicator = try #require(agents.agents[eu.name]?.replicator)
            let cancelled = await replicator.passesCancelled
            #expect(cancelled >= 1, "no pass was cancelled; promotion said: \(promoted?.message ?? "-")")
            #expect(!FileManager.default.fileExists(atPath: "\(euFiles)/big.bin"), "the old region's large file arrived after the failover began")
            #expect(!listing(euFiles).contains { $0.hasPrefix(".~tmp~") || $0.hasPrefix(".big.bin.") }, "\(listing(euFiles))")

            // Files now flow from eu-west: after.txt reaches us-east, and shared.txt there becomes the new version.
            try await waitFor("after.txt in us-east", timeout: .seconds(30)) { read("\(usFiles)/after.txt") != nil }
            try await waitFor("the new shared.txt in us-east", timeout: .seconds(30)) { read("\(usFiles)/shared.txt") == "new\n" }
            // Many passes later (1 s each), both regions still hold the new version, and what the old
            // region wrote after the epoch was bumped never reached the new primary's region.
            let passes = await agents.agents[us.name]!.replicator!.passesStarted
            try await waitFor("ten more passes in us-east", timeout: .seconds(30)) {
                await agents.agents[us.name]!.replicator!.passesStarted >= passes + 10
            }
            #expect(read("\(euFiles)/shared.txt") == "new\n")
            #expect(read("\(usFiles)/shared.txt") == "new\n")
            #expect(read("\(euFiles)/late.txt") == nil, "a file the old region wrote after the epoch was bumped arrived")
            #expect(!FileManager.default.fileExists(atPath: "\(euFiles)/big.bin"))
        }
    }
}
