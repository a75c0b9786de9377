import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatPostgres
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// The agent against a real PostgreSQL primary/standby pair.
@Suite(.serialized) struct AgentHealthTests {
    @Test func healthzRolesAndSignedActionsOnARealPair() async throws {
        try await withSandboxCluster { cluster in
            let primary = cluster.primary, standby = cluster.standbys[0]
            let disk = try temporaryDirectory("disk")
            defer { try? FileManager.default.removeItem(atPath: disk) }
            // Generous timeouts: these checks must pass on a CI machine busy with other suites
            // (spawning /bin/true has taken over a second there).
            let checks: [AgentCheck] = [
                AgentCheck(name: "database", timeout: .seconds(10), kind: .postgresql),
                AgentCheck(name: "pg-port", timeout: .seconds(10), kind: .tcp(host: primary.address, port: primary.port)),
                AgentCheck(name: "disk", timeout: .seconds(10), kind: .disk(path: disk, minFreeBytes: 1, minFreePercent: nil)),
                AgentCheck(name: "true", timeout: .seconds(10), kind: .command(["/bin/true"])),
            ]
            // The agent was told about epoch 6 before it restarted; its state file remembers.
            let stateFile = try temporaryDirectory("agent-state") + "/agent-state.json"
            try #"{"epoch":6}"#.write(toFile: stateFile, atomically: true, encoding: .utf8)
            let primaryAgent = try Agent(config: agentConfig(node: primary.name, region: primary.region, database: primary.config, checks: checks,
                                                             stateFile: stateFile), logger: testLogger())
            // A long health cache on the standby's agent: its role endpoints must not answer from it.
            let standbyAgent = try Agent(config: agentConfig(node: standby.name, region: standby.region, database: standby.config,
                                                             checks: [AgentCheck(name: "database", timeout: .seconds(10), kind: .postgresql)],
                                                             cache: .seconds(30)), logger: testLogger())
            try await withAgentServer(standbyAgent) { standbyURL in
                try await withAgentServer(primaryAgent) { url in
                    // /healthz: every check, 200.
                    let health = try await get(url + "/healthz")
                    #expect(health.status == 200, "\(health.body)")
                    let reports = try #require(health.json["checks"] as? [[String: Any]])
                    #expect(reports.map { $0["name"] as? String } == ["database", "pg-port", "disk", "true"])
                    #expect(reports.allSatisfy { $0["ok"] as? Bool == true && $0["duration"] is Double })
                    #expect(health.json["role"] as? String == "primary")

                    // Role endpoints for a load balancer.
                    #expect(try await get(url + "/primary").status == 200)
                    #expect(try await get(url + "/replica").status == 503)
                    #expect(try await get(standbyURL + "/replica").status == 200)
                    #expect(try await get(standbyURL + "/primary").status == 503)

                    // Unsigned, mis-signed, stale and replayed fence orders: 401, and the primary still takes writes.
                    let body = Array(#"{"epoch":7}"#.utf8)
                    let fenceURL = url + "/v1/actions/fence"
                    #expect(try await post(fenceURL, body: body, headers: []).status == 401)
                    let wrongKey = AgentSigning.headers(key: AgentSigning.key("not the key"), method: "POST", path: "/v1/actions/fence",
                                                        node: primary.name, epoch: 7, body: body)
                    #expect(try await post(fenceURL, body: body, headers: wrongKey).status == 401)
                    let stale = AgentSigning.headers(key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/fence",
                                                     node: primary.name, epoch: 7, body: body, now: Date().addingTimeInterval(-120))
                    let staleAnswer = try await post(fenceURL, body: body, headers: stale)
                    #expect(staleAnswer.status == 401)
                    #expect(staleAnswer.body.contains("timestamp"))
                    try await cluster.psql(primary, "CREATE TABLE IF NOT EXISTS agent_t (id int); INSERT INTO agent_t VALUES (1)")

                    // A fence correctly signed for another node (captured on its way to the standby's
                    // agent) and replayed here: refused, and the primary still takes writes.
                    let forTheStandby = AgentSigning.headers(key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/fence",
                                                             node: standby.name, epoch: 7, body: body)
                    let crossNode = try await post(fenceURL, body: body, headers: forTheStandby)
                    #expect(crossNode.status == 401)
                    #expect(crossNode.body.contains("signed for another node"), "\(crossNode.body)")
                    try await cluster.psql(primary, "INSERT INTO agent_t VALUES (10)")
                    // Correctly signed bodies with an unknown field, or not an object: 400 naming the
                    // problem, nothing done, the primary still takes writes.
                    for (path, text, expected) in [
                        ("/v1/actions/fence", #"{"epoch":7,"force":true}"#, "unknown field 'force'; this request takes epoch"),
                        ("/v1/actions/failsafe", #"{"primary":"pg-x","epoch":7,"ttl_ms":4000,"extra":1}"#, "unknown field 'extra'"),
                        ("/v1/actions/seal", "[7]", "must be a JSON object"),
                    ] {
                        let odd = Array(text.utf8)
                        let signed = AgentSigning.headers(key: AgentSigning.key(agentKey), method: "POST", path: path, node: primary.name, epoch: 7, body: odd)
                        let answer = try await post(url + path, body: odd, headers: signed)
                        #expect(answer.status == 400, "\(path): \(answer.status) \(answer.body)")
                        #expect(answer.body.contains(expected), "\(path): \(answer.body)")
                    }
                    try await cluster.psql(primary, "INSERT INTO agent_t VALUES (11)")
                    // A fence under an epoch older than the one this agent follows (6, from its state
                    // file: it survived the agent's restart): 409, and the primary still takes writes.
                    let oldBody = Array(#"{"epoch":5}"#.utf8)
                    let oldEpoch = try await post(fenceURL, body: oldBody, headers: AgentSigning.headers(
                        key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/fence", node: primary.name, epoch: 5, body: oldBody))
                    #expect(oldEpoch.status == 409, "\(oldEpoch.body)")
                    #expect(oldEpoch.body.contains("already follows epoch 6"), "\(oldEpoch.body)")
                    try await cluster.psql(primary, "INSERT INTO agent_t VALUES (11)")
                    // A body whose epoch is not the one it is signed for: 400.
                    let mismatch = try await post(fenceURL, body: body, headers: AgentSigning.headers(
                        key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/fence", node: primary.name, epoch: 8, body: body))
                    #expect(mismatch.status == 400)
                    try await cluster.psql(primary, "INSERT INTO agent_t VALUES (12)")

                    // status (signed): role, LSNs, deployment hash.
                    let client = AgentClient(baseURL: url, node: primary.name, key: agentKey)
                    let status = try await client.status(timeout: .seconds(10))
                    #expect(status.role == .primary)
                    #expect(status.currentLSN != nil)
                    #expect(status.deploymentHash.count == 64)

                    // A correctly signed fence runs once; the same request replayed is refused.
                    let signed = AgentSigning.headers(key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/fence",
                                                      node: primary.name, epoch: 7, body: body)
                    let fenced = try await post(fenceURL, body: body, headers: signed)
                    #expect(fenced.status == 200, "\(fenced.body)")
                    #expect(fenced.json["fenced"] as? Bool == true)
                    let replay = try await post(fenceURL, body: body, headers: signed)
                    #expect(replay.status == 401)
                    #expect(replay.body.contains("nonce"))
                    await #expect(throws: CommandError.self) { try await cluster.psql(primary, "INSERT INTO agent_t VALUES (2)") }

                    // The load balancer stops sending writes there at once: the role endpoints never
                    // answer from the health cache (a fence or a promotion shows on the next request).
                    let right = try await get(url + "/primary")
                    #expect(right.status == 503, "a fenced primary still answered \(right.status)")
                    #expect(right.json["role"] as? String == "fenced")
                    // A promotion shows at once too, whatever the health cache holds.
                    #expect(try await get(standbyURL + "/healthz").json["role"] as? String == "replica")
                    try await cluster.psql(standby, "SELECT pg_promote()")
                    #expect(try await get(standbyURL + "/primary").status == 200)
                    #expect(try await get(standbyURL + "/replica").status == 503)
                    let after = try await client.status(timeout: .seconds(10))
                    #expect(after.fencedUnderEpoch == 7)

                    // Metrics carry the rejections by reason and the checks.
                    let metrics = try await get(url + "/metrics").body
                    #expect(metrics.contains(#"lifeboat_agent_requests_rejected_total{reason="unsigned"} 1"#), "\(metrics)")
                    #expect(metrics.contains(#"lifeboat_agent_requests_rejected_total{reason="replayed_nonce"} 1"#))
                    #expect(metrics.contains(#"lifeboat_agent_requests_rejected_total{reason="bad_signature"} 1"#))
                    #expect(metrics.contains(#"lifeboat_agent_requests_rejected_total{reason="stale_timestamp"} 1"#))
                    #expect(metrics.contains(#"lifeboat_agent_check_up{check="database",type="postgresql"}"#))
                    #expect(!metrics.contains(agentKey))
                    // Prometheus' own lint accepts the exposition.
                    let file = try temporaryDirectory("metrics") + "/agent.prom"
                    try metrics.write(toFile: file, atomically: true, encoding: .utf8)
                    let lint = try await ProcessRunner.run(["/bin/sh", "-c", "promtool check metrics < \(file)"], timeout: .seconds(30))
                    #expect(lint.succeeded, "\(lint.output) \(lint.errorOutput)")
                }
            }
        }
    }

    @Test func aFailingCheckAnswers503WithEveryReportAndOnTime() async throws {
        let agent = try Agent(config: agentConfig(node: "app-1", region: "us-east", checks: [
            AgentCheck(name: "closed-port", timeout: .milliseconds(500), kind: .tcp(host: "127.0.0.1", port: try FreePort.find())),
            AgentCheck(name: "false", kind: .command(["/bin/false"])),
            AgentCheck(name: "slow", timeout: .milliseconds(300), kind: .command(["/bin/sleep", "30"])),
            AgentCheck(name: "full-disk", kind: .disk(path: "/", minFreeBytes: UInt64.max / 2, minFreePercent: nil)),
            AgentCheck(name: "ok", timeout: .seconds(10), kind: .command(["/bin/true"])),
        ], cache: .zero), logger: testLogger())
        try await withAgentServer(agent) { url in
            let started = ContinuousClock.now
            let health = try await get(url + "/healthz")
            let took = started.duration(to: .now)
            #expect(health.status == 503)
            let reports = try #require(health.json["checks"] as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: reports.map { ($0["name"] as! String, $0) })
            #expect(byName["closed-port"]?["ok"] as? Bool == false)
            #expect((byName["false"]?["error"] as? String)?.hasPrefix("exit 1") == true)
            #expect((byName["slow"]?["error"] as? String)?.contains("timed out") == true || (byName["slow"]?["error"] as? String)?.contains("no answer") == true)
            #expect((byName["full-disk"]?["error"] as? String)?.contains("below") == true)
            #expect(byName["ok"]?["ok"] as? Bool == true)
            // Each check bounded by its own timeout (the slowest 500 ms), not by the 30 s sleep;
            // generous for a loaded CI machine.
            #expect(took < .seconds(15), "\(took)")
            #expect(health.json["role"] == nil || health.json["role"] is NSNull, "no database: no role")
            #expect(try await get(url + "/primary").status == 503)
        }
    }

    @Test func theCacheServesConcurrentCallersFromOneRun() async throws {
        let marker = try temporaryDirectory("cache")
        defer { try? FileManager.default.removeItem(atPath: marker) }
        // Each run of the check appends a line; 50 concurrent requests within the window run it once.
        let agent = try Agent(config: agentConfig(node: "app-1", region: "us-east", checks: [
            AgentCheck(name: "counting", timeout: .seconds(10), kind: .command(["/bin/sh", "-c", "echo run >> \(marker)/runs"])),
        ], cache: .seconds(30)), logger: testLogger())
        try await withAgentServer(agent) { url in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<50 { group.addTask { try await get(url + "/healthz").status } }
                for try await status in group { #expect(status == 200) }
            }
            let runs = try String(contentsOfFile: "\(marker)/runs", encoding: .utf8).split(separator: "\n").count
            #expect(runs == 1)
        }
    }
}
