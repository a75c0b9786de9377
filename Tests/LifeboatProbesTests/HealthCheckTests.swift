import Foundation
import LifeboatProbes
import LifeboatSandbox
import LifeboatTestSupport
import Synchronization
import Testing

@Suite struct HealthCheckTests {
    final class Methods: Sendable { let seen = Mutex<[String]>([]) }

    func server(status: Int, body: String, delay: Duration = .zero, methods: Methods = Methods()) async throws -> TestHTTPServer {
        try await TestHTTPServer { request in
            methods.seen.withLock { $0.append(request.method) }
            if delay > .zero { try? await Task.sleep(for: delay) }
            return (status, [], Data(body.utf8))
        }
    }

    @Test func httpChecksUseGETAndMatchStatusAndBody() async throws {
        let methods = Methods()
        let ok = try await server(status: 200, body: "{\"status\":\"ok\"}", methods: methods)
        defer { Task { await ok.stop() } }
        let url = "http://127.0.0.1:\(ok.port)/healthz"
        #expect(await HTTPHealthCheck(url: url).check(timeout: .seconds(10)).ok)
        #expect(await HTTPHealthCheck(url: url, expectBody: "\"ok\"").check(timeout: .seconds(10)).ok)
        let mismatch = await HTTPHealthCheck(url: url, expectBody: "ready").check(timeout: .seconds(10))
        #expect(!mismatch.ok && mismatch.error == "body does not contain 'ready'")
        #expect(methods.seen.withLock { $0 } == ["GET", "GET", "GET"], "never HEAD")
    }

    @Test func httpErrorsAndHangsAreUnhealthy() async throws {
        let failing = try await server(status: 503, body: "down")
        let hanging = try await server(status: 200, body: "late", delay: .seconds(30))
        defer { Task { await failing.stop(); await hanging.stop() } }
        let failed = await HTTPHealthCheck(url: "http://127.0.0.1:\(failing.port)/healthz").check(timeout: .seconds(10))
        #expect(!failed.ok && failed.error == "HTTP 503")
        let started = ContinuousClock.now
        let slow = await HTTPHealthCheck(url: "http://127.0.0.1:\(hanging.port)/healthz").check(timeout: .milliseconds(300))
        #expect(!slow.ok)
        #expect(started.duration(to: .now) < .seconds(10), "the 300 ms timeout, not the server's 30 s")
    }

    @Test func tcpChecksConnect() async throws {
        let open = try await server(status: 200, body: "")
        defer { Task { await open.stop() } }
        #expect(await TCPHealthCheck(host: "127.0.0.1", port: open.port).check(timeout: .seconds(10)).ok)
        let closed = await TCPHealthCheck(host: "127.0.0.1", port: try FreePort.find()).check(timeout: .seconds(1))
        #expect(!closed.ok && closed.error == "connection refused")
    }
}
