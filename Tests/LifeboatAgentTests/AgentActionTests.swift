import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatPostgres
import LifeboatSandbox
import LifeboatTestSupport
import Synchronization
import Testing

@Suite(.serialized) struct AgentActionTests {
    @Test func fenceByStoppingPostgreSQLWithPgCtl() async throws {
        try await withSandboxCluster { cluster in
            let primary = cluster.primary
            let stop = FenceMethod.stop(pgCtl: cluster.installation.tool("pg_ctl"), dataDirectory: primary.dataDirectory,
                                        runAs: CommandRunner.isRoot ? "postgres" : nil)
            let agent = try Agent(config: agentConfig(node: primary.name, region: primary.region, database: primary.config, fence: stop),
                                  logger: testLogger())
            try await withAgentServer(agent) { url in
                let client = AgentClient(baseURL: url, node: agent.config.node, key: agentKey)
                let first = try await client.fence(epoch: Epoch(3), timeout: .seconds(45))
                #expect(first.fenced && first.method == "stop", "\(first)")
                #expect(first.detail.contains("server stopped"))
                let fleet = try PostgresFleet(nodes: [primary.config], logger: testLogger())
                let probe = await fleet.probe(primary.name, timeout: .seconds(2))
                #expect(probe.status == nil, "the server is down: \(probe)")
                await fleet.shutdown()
                // Idempotent: fencing a stopped server again succeeds.
                let again = try await client.fence(epoch: Epoch(3), timeout: .seconds(45))
                #expect(again.fenced && again.detail == "already stopped", "\(again)")
                #expect(try await client.status(timeout: .seconds(15)).fencedUnderEpoch == 3)
            }
        }
    }

    @Test func syncNowThroughTheAPIFollowsTheEpochAndRefusesAnOlderOne() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        try regions.write("us-east", "a.txt", "from the primary")
        let agent = try Agent(config: agentConfig(node: "app-eu-west", region: "eu-west", files: regions.files(region: "eu-west")), logger: testLogger())
        try await withAgentServer(agent) { url in
            let client = AgentClient(baseURL: url, node: agent.config.node, key: agentKey)
            let synced = try await client.syncNow(epoch: Epoch(2), primaryRegion: "us-east", timeout: .seconds(30))
            #expect(synced.epoch == 2 && synced.primaryRegion == "us-east" && !synced.source)
            #expect(synced.paths.first?.lastBytes ?? 0 > 0)
            #expect(regions.read("eu-west", "a.txt") == "from the primary")

            // An order under an older epoch: 409, nothing changes.
            do {
                _ = try await client.syncNow(epoch: Epoch(1), primaryRegion: "eu-west", timeout: .seconds(30))
                Issue.record("an older epoch was accepted")
            } catch let failure as AgentClient.Failure {
                #expect(failure.status == 409)
                #expect(failure.description.contains("ordered under epoch 1, but this agent already follows epoch 2"), "\(failure)")
            }
            let status = try await client.status(timeout: .seconds(15))
            #expect(status.files?.epoch == 2 && status.files?.primaryRegion == "us-east")

            // Per path in /metrics: success time, age, bytes, errors, epoch.
            let metrics = try await get(url + "/metrics").body
            #expect(metrics.contains(#"lifeboat_agent_files_epoch 2"#), "\(metrics)")
            #expect(metrics.contains(#"lifeboat_agent_files_errors{path="uploads"} 0"#))
            #expect(metrics.contains(#"lifeboat_agent_files_age_seconds{path="uploads"}"#))
            #expect(!metrics.contains(#"lifeboat_agent_files_last_success_timestamp_seconds{path="uploads"} 0"#))
            #expect(!metrics.contains(#"lifeboat_agent_files_received_bytes{path="uploads"} 0"#))
        }
    }

    /// With a lease store to ask, an order is adopted only when the store confirms its epoch and
    /// primary region: a correctly signed order with a far-future epoch changes nothing, and files
    /// are pulled only while the source region's primary holds the lease.
    @Test func anOrderTheLeaseStoreDoesNotConfirmIsNotAdopted() async throws {
        let regions = try TwoRegions()
        defer { regions.remove() }
        try regions.write("us-east", "a.txt", "from the primary")
        let store = Mutex(LeaseStatusResponse(epoch: 3, primary: "pg-us-east", primaryRegion: "us-east", lease: .valid, failoverRunning: false))
        let monitor = try await TestHTTPServer { request in
            guard request.path == "/v1/lease/status" else { return (404, [], Data()) }
            return (200, [], try! JSONEncoder().encode(store.withLock { $0 }))
        }
        defer { Task { await monitor.stop() } }
        var config = agentConfig(node: "app-eu-west", region: "eu-west", files: regions.files(region: "eu-west"),
                                 stateFile: "\(regions.root)/agent-state.json")
        config.database = DatabaseNodeConfig(name: "app-eu-west", region: "eu-west", host: "127.0.0.1", port: 1)
        config.lease = LeaseConfig(monitor: "http://127.0.0.1:\(monitor.port)", renewEvery: .seconds(1))
        let agent = try Agent(config: config, logger: testLogger())
        try await withAgentServer(agent) { url in
            let client = AgentClient(baseURL: url, node: agent.config.node, key: agentKey)
            do {
                _ = try await client.syncNow(epoch: Epoch(1_000_000), primaryRegion: "us-east", timeout: .seconds(30))
                Issue.record("a far-future epoch was adopted")
            } catch let failure as AgentClient.Failure {
                #expect(failure.status == 409)
                #expect(failure.description.contains("the monitor is at epoch 3"), "\(failure)")
            }
            #expect(agent.currentPromise().agentEpoch == 0, "the refused order left its epoch behind")
            // The confirmed order is adopted and files flow.
            let synced = try await client.syncNow(epoch: Epoch(3), primaryRegion: "us-east", timeout: .seconds(30))
            #expect(synced.epoch == 3)
            #expect(regions.read("eu-west", "a.txt") == "from the primary")
            // The source's primary loses its lease: no pull, and what us-east writes now stays there.
            store.withLock { $0.lease = .released }
            try regions.write("us-east", "b.txt", "written after the lease was lost")
            let held = await agent.replicator!.syncNow()
            #expect(regions.read("eu-west", "b.txt") == nil)
            #expect(held.first?.lastError == nil)
            #expect(await agent.replicator!.lastRefusal?.contains("the primary's lease is released") == true)
        }
    }
}
