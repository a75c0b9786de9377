import AsyncHTTPClient
import Foundation
import Hummingbird
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatHTTP
import LifeboatSandbox
import LifeboatTestSupport
import NIOCore

let agentKey = "test-agent-key-0123456789abcdef"

/// Runs the agent's HTTP server on a free loopback port for `body`.
func withAgentServer<T: Sendable>(_ agent: Agent, _ body: (String) async throws -> T) async throws -> T {
    let port = try FreePort.find()
    let app = Application(router: buildAgentRouter(agent: agent),
                          configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: testLogger())
    let server = Task { try await GracefulServer(app, logger: testLogger()).run() }
    let base = "http://127.0.0.1:\(port)"
    do {
        try await waitFor("the agent to listen", timeout: .seconds(10)) { (try? await get(base + "/metrics")) != nil }
        let result = try await body(base)
        server.cancel()
        _ = await server.result
        await agent.shutdown()
        return result
    } catch {
        server.cancel()
        _ = await server.result
        await agent.shutdown()
        throw error
    }
}

struct HTTPAnswer: Sendable {
    var status: Int
    var body: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
}

func get(_ url: String) async throws -> HTTPAnswer {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    return HTTPAnswer(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
}

/// A POST with caller-chosen headers: for forging, replaying and mis-signing requests.
func post(_ url: String, body: [UInt8], headers: [(String, String)]) async throws -> HTTPAnswer {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(body)
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    return HTTPAnswer(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
}

func agentConfig(node: String, region: String, database: DatabaseNodeConfig? = nil, checks: [AgentCheck] = [],
                 files: FilesConfig? = nil, cache: Duration = .milliseconds(200), fence: FenceMethod = .readOnly,
                 stateFile: String? = nil) -> AgentConfiguration {
    AgentConfiguration(node: node, region: region, key: .inline(.init(agentKey)), cacheFor: cache, database: database,
                       fence: fence, checks: checks, files: files, stateFile: stateFile)
}

func temporaryDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-\(name)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
