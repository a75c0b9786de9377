import AsyncHTTPClient
import Foundation
import LifeboatSandbox
import LifeboatTestSupport
import NIOCore
import Testing
import Yams

/// The running monitor's API answers exactly as docs/api.yaml says: every documented path and
/// method, documented status codes, and bodies that match the schemas (no undocumented fields).
@Suite(.serialized) struct APIConformanceTests {
    @Test func theServerMatchesDocsAPIYAML() async throws {
        let doc = try #require(try Yams.load(yaml: String(contentsOf: CLI.packageRoot.appendingPathComponent("docs/api.yaml"), encoding: .utf8)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        try await withSandboxCluster { cluster in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-api-\(UUID())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try FreePort.find()
            let app = try await TestHTTPServer { request in (request.method == "GET" ? 200 : 405, [], Data("{\"status\":\"ok\"}".utf8)) }
            defer { Task { await app.stop() } }
            let config = dir.appendingPathComponent("lifeboat.yml").path
            try """
            regions: [{name: us-east}, {name: eu-west}]
            database:
              nodes:
                - {name: \(cluster.nodes[0].name), region: us-east, host: \(cluster.nodes[0].address), port: \(cluster.nodes[0].port)}
                - {name: \(cluster.nodes[1].name), region: eu-west, host: \(cluster.nodes[1].address), port: \(cluster.nodes[1].port)}
            api: {listen: 127.0.0.1:\(port), token_env: LIFEBOAT_API_TOKEN}
            agents: {key_env: LIFEBOAT_AGENT_KEY}
            services:
              - name: shop-web
                nodes:
                  - {name: web-us-east, region: us-east, health: "http://127.0.0.1:\(app.port)/healthz", health_body: ok}
                  - {name: db-port-eu-west, region: eu-west, health: "tcp://\(cluster.nodes[1].address):\(cluster.nodes[1].port)"}
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let monitor = try MonitorCrashResumeTests.start(["monitor", "--config", config, "--state", dir.appendingPathComponent("s.db").path],
                                                            env: ["LIFEBOAT_API_TOKEN": "conformance", "LIFEBOAT_AGENT_KEY": "agent-key"],
                                                            log: dir.appendingPathComponent("log").path)
            defer { monitor.terminate(); monitor.waitUntilExit() }
            let base = "http://127.0.0.1:\(port)"
            try await waitFor("monitoring, application checks done") {
                guard let text = (try? await Self.call(base, "GET", "/v1/status"))?.1 else { return false }
                return text.contains("\"monitoring\"") && text.components(separatedBy: "\"healthy\":true").count == 3
            }

            // Every documented operation, with the calls that reach its documented answers.
            var covered: Set<String> = []
            let calls: [(String, String, String?, String?, Int)] = [
                ("GET", "/healthz", nil, nil, 200),
                ("GET", "/metrics", nil, nil, 200),
                ("GET", "/v1/status", nil, nil, 200),
                ("GET", "/v1/events", nil, nil, 200),
                ("POST", "/v1/pause", nil, #"{"by":"conformance"}"#, 401),
                ("POST", "/v1/pause", "conformance", #"{"by":"conformance"}"#, 200),
                ("POST", "/v1/resume", "wrong", nil, 401),
                ("POST", "/v1/resume", "conformance", nil, 200),
                ("POST", "/v1/failover", nil, #"{"dry_run":true}"#, 401),
                ("POST", "/v1/failover", "conformance", #"{"dry_run":true}"#, 200),
                ("POST", "/v1/failover", "conformance", #"{"to":"pg-nowhere"}"#, 409),
                ("POST", "/v1/switchover", nil, nil, 401),
                ("POST", "/v1/switchover", "conformance", #"{"to":"pg-nowhere"}"#, 409),
                ("POST", "/v1/rejoin", nil, #"{"node":"pg-eu-west"}"#, 401),
                ("POST", "/v1/rejoin", "conformance", #"{"nod":"pg-eu-west"}"#, 400),
                ("POST", "/v1/rejoin", "conformance", #"{"node":"pg-us-east"}"#, 409),
                ("POST", "/v1/lease/renew", nil, #"{"node":"pg-us-east"}"#, 401),
                ("POST", "/v1/lease/release", nil, #"{"node":"pg-us-east"}"#, 401),
                ("POST", "/v1/lease/status", nil, #"{"node":"pg-us-east"}"#, 401),
            ]
            for (method, path, token, body, expected) in calls {
                let (status, text) = try await Self.call(base, method, path + (path == "/v1/events" ? "?since=0&limit=50" : ""), token: token, body: body)
                #expect(status == expected, "\(method) \(path)")
                let operation = try #require(paths[path]?[method.lowercased()] as? [String: Any], "\(method) \(path) is documented")
                let responses = try #require(operation["responses"] as? [String: Any])
                let documented = try #require(responses[String(status)] as? [String: Any], "\(method) \(path) answered an undocumented \(status)")
                if path == "/metrics" {
                    #expect((documented["content"] as? [String: Any])?["text/plain"] != nil)
                    try Self.promtoolAccepts(text)
                    covered.insert("\(method) \(path)")
                    continue
                }
                let schema = ((documented["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"]
                let json = try JSONSerialization.jsonObject(with: Data(text.utf8))
                Self.check(json, against: schema, doc: doc, at: "\(method) \(path) \(status)")
                covered.insert("\(method) \(path)")
            }
            for (path, item) in paths {
                for method in item.keys { #expect(covered.contains("\(method.uppercased()) \(path)"), "\(method) \(path) not exercised") }
            }
        }
    }

    /// `promtool check metrics` (Debian's prometheus package) reads the exposition on stdin.
    static func promtoolAccepts(_ text: String) throws {
        #expect(text.contains("lifeboat_node_up{"), "\(text)")
        #expect(text.contains("lifeboat_state{state=\"monitoring\"} 1"))
        #expect(text.contains("lifeboat_failovers_total{outcome=\"complete\"} 0"))
        #expect(text.contains("lifeboat_probe_duration_seconds_bucket{"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "promtool: \(said)")
        #expect(said.isEmpty, "promtool found problems: \(said)")
    }

    static func call(_ base: String, _ method: String, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// A small JSON Schema check for the keywords docs/api.yaml uses.
    static func check(_ value: Any, against schemaNode: Any?, doc: [String: Any], at path: String) {
        guard var schema = schemaNode as? [String: Any] else { Issue.record("\(path): no schema"); return }
        if let ref = schema["$ref"] as? String {
            var node: Any? = doc
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            schema = node as? [String: Any] ?? [:]
        }
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { Issue.record("\(path): expected an object"); return }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] { #expect(object[key] != nil, "\(path): missing required \(key)") }
            for (key, child) in object {
                guard let property = properties[key] else { Issue.record("\(path): undocumented field \(key)"); continue }
                check(child, against: property, doc: doc, at: "\(path).\(key)")
            }
        case "array":
            guard let array = value as? [Any] else { Issue.record("\(path): expected an array"); return }
            for (i, item) in array.enumerated() { check(item, against: schema["items"], doc: doc, at: "\(path)[\(i)]") }
        case "string":
            guard let text = value as? String else { Issue.record("\(path): expected a string"); return }
            if let allowed = schema["enum"] as? [String] { #expect(allowed.contains(text), "\(path): \(text) not in \(allowed)") }
        case "integer":
            #expect((value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } == true, "\(path): expected an integer")
        case "number":
            #expect(value is NSNumber, "\(path): expected a number")
        case "boolean":
            #expect(value is Bool, "\(path): expected a boolean")
        default:
            break
        }
    }
}
