import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatPorts
import LifeboatPostgres
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// Against a real PostgreSQL 15 primary with two streaming standbys.
@Suite(.serialized) struct PostgresNodeTests {
    @Test func probeFenceRepointAndPromoteOnARealCluster() async throws {
        try await withSandboxCluster(regions: ["us-east", "eu-west", "ap-south"]) { cluster in
            let fleet = try PostgresFleet(nodes: cluster.nodes.map(\.config), logger: testLogger())
            let (p, s1, s2) = (cluster.nodes[0].name, cluster.nodes[1].name, cluster.nodes[2].name)
            try await cluster.psql(cluster.primary, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")

            // Probe: roles, positions, WAL receivers, replicas.
            let primary = try await reachable(fleet, p)
            #expect(!primary.inRecovery)
            #expect(primary.currentLSN != nil)
            #expect(primary.connectedReplicas == 2)
            #expect(!primary.readOnly)
            #expect(primary.walReceiver == .notApplicable)
            // The kept probe connection ended by the server: the next probe reconnects, no false "down".
            try await cluster.psql(cluster.primary, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lifeboat'")
            #expect(try await reachable(fleet, p).connectedReplicas == 2)
            try await cluster.waitForStreaming(timeout: .seconds(10))
            let standby = try await reachable(fleet, s1)
            #expect(standby.inRecovery)
            #expect(standby.isStreaming)
            #expect(standby.receiveLSN != nil && standby.replayLSN != nil)
            #expect(standby.replayLag != nil)

            // Fence the live primary: read-only for new sessions, client sessions terminated.
            let fenced = try await fleet.fence(p, epoch: Epoch(1), timeout: .seconds(5))
            guard case .fenced(let detail) = fenced else { Issue.record("expected fenced, got \(fenced)"); return }
            #expect(detail.hasPrefix("default_transaction_read_only=on"))
            let afterFence = try await reachable(fleet, p)
            #expect(afterFence.readOnly)
            await #expect(throws: CommandError.self) { try await cluster.psql(cluster.primary, "INSERT INTO t VALUES (2)") }

            // Kill it, promote s1, and make s2 follow s1.
            _ = try await cluster.kill(cluster.primary)
            // A dead server's host answers with a reset: classified as refused, from the errno.
            try await waitFor("the killed primary refuses connections") { await fleet.probe(p, timeout: .seconds(1)).failure?.kind == .refused }
            let gone = await fleet.probe(p, timeout: .seconds(1))
            #expect(gone == .unreachable(ProbeFailure(.refused, "connection refused")))
            let unreachableFence = try await fleet.fence(p, epoch: Epoch(1), timeout: .seconds(1))
            #expect(unreachableFence == .unreachable(ProbeFailure(.refused, "connection refused")))

            #expect(try await fleet.promote(s1, epoch: Epoch(1), timeout: .seconds(10)) == "pg_promote returned true")
            #expect(try await fleet.promote(s1, epoch: Epoch(1), timeout: .seconds(10)) == "already out of recovery", "promote is idempotent")
            #expect(try await fleet.waitWritable(s1, timeout: .seconds(5)).hasPrefix("write accepted"))

            let repointed = try await fleet.repoint(s2, toPrimary: s1, timeout: .seconds(5))
            #expect(repointed.contains("port='\(cluster.nodes[1].port)'"))
            #expect(repointed.contains("user='postgres'"))
            try await cluster.psql(cluster.nodes[1], "INSERT INTO t VALUES (3)")
            // s2 now streams from s1 and receives its writes.
            var rows = ""
            try await waitFor("s2 receives s1's write") {
                rows = (try? await cluster.psql(cluster.nodes[2], "SELECT string_agg(id::text, ',' ORDER BY id) FROM t")) ?? ""
                return rows.contains("3")
            }
            #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "1,3")
            let newPrimary = try await reachable(fleet, s1)
            #expect(newPrimary.connectedReplicas == 1)
            await fleet.shutdown()
        }
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        // A socket that accepts connections but never speaks: the probe must give up on time.
        let port = try FreePort.find()
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(silent, 8)

        let node = DatabaseNodeConfig(name: "pg-silent", region: "us-east", host: "127.0.0.1", port: port)
        let fleet = try PostgresFleet(nodes: [node], logger: testLogger())
        let started = ContinuousClock.now
        let result = await fleet.probe("pg-silent", timeout: .milliseconds(300))
        let took = started.duration(to: .now)
        // Whichever gives up first (our probe timeout or postgres-nio's connect timeout, both
        // 300 ms), a silent server is a timeout, not a refusal.
        #expect(result.failure?.kind == .timedOut, "\(result)")
        #expect(took < .seconds(5), "a server that never answers is given up on")
        await #expect(throws: PostgresNodeError.self) { try await fleet.promote("pg-silent", epoch: Epoch(1), timeout: .milliseconds(300)) }
        await #expect(throws: PostgresNodeError.self) { try await fleet.promote("pg-nowhere", epoch: Epoch(1), timeout: .milliseconds(300)) }
    }

    @Test func aMissingPasswordFailsAtStartNamingTheNode() {
        let node = DatabaseNodeConfig(name: "pg-a", region: "us-east", host: "127.0.0.1", password: .environment("LIFEBOAT_TEST_UNSET"))
        #expect(throws: PostgresNodeError.self) { try PostgresFleet(nodes: [node], logger: testLogger(), environment: [:]) }
        do {
            _ = try PostgresFleet(nodes: [node], logger: testLogger(), environment: [:])
        } catch {
            #expect("\(error)" == "pg-a: read password: environment variable LIFEBOAT_TEST_UNSET is not set or empty")
        }
    }
}

/// Probes a node that must answer; a failure names the reason. The timeout allows for a CI
/// machine with two cores busy starting other suites' clusters.
func reachable(_ fleet: PostgresFleet, _ node: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> NodeStatus {
    let result = await fleet.probe(node, timeout: .seconds(10))
    guard let status = result.status else {
        Issue.record("probe of \(node) failed: \(result)", sourceLocation: sourceLocation)
        throw CancellationError()
    }
    return status
}
