import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
@testable import LifeboatMonitor
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// `POST /v1/actions/probe`: another region's agent checks the endpoints the monitor names, from
/// where it stands — the second vantage point of `failover.trigger: region`.
@Suite struct AgentProbeTests {
    @Test func theAgentChecksTheNamedEndpointsAndOnlyForASignedRequest() async throws {
        let healthy = try await TestHTTPServer { _ in (200, [], Data("ok".utf8)) }
        let failing = try await TestHTTPServer { _ in (503, [], Data("draining".utf8)) }
        defer { Task { await healthy.stop(); await failing.stop() } }
        let deadPort = try FreePort.find()
        let agent = try Agent(config: agentConfig(node: "pg-eu-west", region: "eu-west"), logger: testLogger())
        try await withAgentServer(agent) { url in
            let client = AgentClient(baseURL: url, node: "pg-eu-west", key: agentKey)
            let targets = [
                ProbeOrder.Target(node: "app-1", url: "http://127.0.0.1:\(healthy.port)/healthz"),
                ProbeOrder.Target(node: "app-2", url: "http://127.0.0.1:\(failing.port)/healthz"),
                ProbeOrder.Target(node: "app-3", url: "http://127.0.0.1:\(deadPort)/healthz"),
                ProbeOrder.Target(node: "app-4", url: "tcp://127.0.0.1:\(healthy.port)"),
                ProbeOrder.Target(node: "app-5", url: "http://127.0.0.1:\(healthy.port)/healthz", body: "ready"),
            ]
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try await client.probe(targets, checkTimeout: .seconds(2), timeout: .seconds(5))
            #expect(answer.node == "pg-eu-west")
            #expect(answer.results.map(\.node) == ["app-1", "app-2", "app-3", "app-4", "app-5"])
            #expect(answer.results.map(\.ok) == [true, false, false, true, false], "\(answer.results)")
            #expect(answer.results[1].detail.contains("503"))
            #expect(start.duration(to: clock.now) < .seconds(2), "a refused connection fails at once, not after the check's timeout")

            // Unsigned, signed for another node, or with a bad body: refused, nothing checked.
            let body = Array(try JSONEncoder().encode(ProbeOrder(targets: targets, timeoutMilliseconds: 500)))
            #expect(try await post(url + "/v1/actions/probe", body: body, headers: [("Content-Type", "application/json")]).status == 401)
            let other = AgentSigning.headers(key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/probe", node: "pg-us-east", epoch: 0, body: body)
            #expect(try await post(url + "/v1/actions/probe", body: body, headers: other).status == 401)
            for bad in [#"{"targets": [], "timeout_ms": 500}"#, #"{"targets": [{"node": "x", "url": "file:///etc/passwd"}], "timeout_ms": 500}"#,
                        #"{"targets": [{"node": "x", "url": "http://127.0.0.1:1/"}], "timeout_ms": 999999}"#, #"{"targets": [], "timeout_ms": 500, "extra": 1}"#] {
                let bytes = Array(bad.utf8)
                let signed = AgentSigning.headers(key: AgentSigning.key(agentKey), method: "POST", path: "/v1/actions/probe", node: "pg-eu-west", epoch: 0, body: bytes)
                #expect(try await post(url + "/v1/actions/probe", body: bytes, headers: signed).status == 400, "\(bad)")
            }
        }
    }
}

/// The monitor's side: a region the monitor sees down counts as down only when an agent in another
/// region sees it down too (`AppTierWatcher.corroborate`, with real agents over signed HTTP).
@Suite struct AppTierCorroborationTests {
    @Test func onlyAnotherRegionsAgentSeeingTheLossToo() async throws {
        let a1 = try await TestHTTPServer { _ in (200, [], Data("ok".utf8)) }
        let a2 = try await TestHTTPServer { _ in (200, [], Data("ok".utf8)) }
        defer { Task { await a1.stop(); await a2.stop() } }
        let deadPorts = [try FreePort.find(), try FreePort.find()]
        func nodes(_ ports: [Int]) -> [ServiceNodeConfig] {
            ports.enumerated().map { ServiceNodeConfig(name: "app-us-east-\($0.offset + 1)", region: "us-east", health: "http://127.0.0.1:\($0.element)/healthz") }
        }
        let agent = try Agent(config: agentConfig(node: "pg-eu-west", region: "eu-west"), logger: testLogger())
        try await withAgentServer(agent) { url in
            let witness = AppTierWatcher.Witness(node: "pg-eu-west", region: "eu-west", client: AgentClient(baseURL: url, node: "pg-eu-west", key: agentKey))
            func judge(_ regional: [ServiceNodeConfig], _ witnesses: [AppTierWatcher.Witness]) async -> AppTierVerdict {
                await AppTierWatcher.corroborate("us-east", regional, seen: 0, witnesses: witnesses, minHealthy: 1, checkTimeout: .seconds(1), agentTimeout: .seconds(2))
            }
            // The monitor sees 0 of 2, but the agent in eu-west sees both answer: the monitor's path fails, not the region.
            #expect(await judge(nodes([a1.port, a2.port]), [witness]) == .uncorroborated(healthy: 0, total: 2, detail: "pg-eu-west sees 2"))
            // The agent sees them dead too: down, confirmed.
            #expect(await judge(nodes(deadPorts), [witness]) == .down(healthy: 0, total: 2, corroboratedBy: ["the agent of pg-eu-west in eu-west"]))
            // Only agents in the failing region, or none answering: never confirmed.
            let inside = AppTierWatcher.Witness(node: "pg-us-east", region: "us-east", client: witness.client)
            #expect(await judge(nodes(deadPorts), [inside]) == .uncorroborated(healthy: 0, total: 2, detail: "no agent outside us-east is configured to check it"))
            let gone = AppTierWatcher.Witness(node: "pg-ap-south", region: "ap-south",
                                              client: AgentClient(baseURL: "http://127.0.0.1:\(deadPorts[0])", node: "pg-ap-south", key: agentKey))
            #expect(await judge(nodes(deadPorts), [gone]) == .uncorroborated(healthy: 0, total: 2, detail: "no agent outside us-east answered"))
        }
    }
}
