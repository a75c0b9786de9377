import AsyncHTTPClient
import Foundation
import LifeboatAgent
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatCore
import LifeboatHTTP
import LifeboatSandbox
import LifeboatTestSupport
import NIOSSL
import Testing

/// The agent's API over HTTPS with certificates made by deploy/tls/make-certs.sh: the monitor's
/// client trusts only the configured CA, and with `client_certificates: require` a caller without
/// a certificate from that CA is refused before any request is read.
@Suite struct AgentTLSTests {
    func withTLSAgent<T: Sendable>(_ tls: TLSSettings, _ body: (String, Agent) async throws -> T) async throws -> T {
        let port = try FreePort.find()
        var config = agentConfig(node: "pg-a", region: "fra")
        config.listen = HostPort(host: "127.0.0.1", port: port)
        config.tls = tls
        let agent = try Agent(config: config, logger: testLogger())
        let server = Task { try await buildAgentApplication(agent: agent, logger: testLogger()).run() }
        defer { server.cancel() }
        let base = "https://127.0.0.1:\(port)"
        let probe = AgentClient(baseURL: base, node: "pg-a", key: agentKey)
        try await waitFor("the agent to listen") { await probe.reachable(within: .seconds(1)) }
        let result = try await body(base, agent)
        server.cancel()
        _ = await server.result
        await agent.shutdown()
        return result
    }

    func client(_ base: String, tls: TLSConfiguration?) -> (AgentClient, HTTPClient) {
        let http = HTTPClient.lifeboat(tls: tls)
        return (AgentClient(baseURL: base, node: "pg-a", key: agentKey, http: http, tls: tls), http)
    }

    @Test func theAgentServesHTTPSAndTheMonitorTrustsOnlyItsCA() async throws {
        let certs = try TestCertificates.make(["pg-a=127.0.0.1,localhost", "monitor=127.0.0.1"])
        let otherCA = try TestCertificates.make(["stranger=127.0.0.1"])
        try await withTLSAgent(TLSSettings(certFile: certs.cert("pg-a"), keyFile: certs.key("pg-a"), caFile: certs.ca)) { base, _ in
            // Trusting the CA: signed calls, including a fence on a fresh connection, go through.
            let trusting = try TLSFiles(certFile: nil, keyFile: nil, caFile: certs.ca, requireClientCertificates: false).client()
            let (good, http) = client(base, tls: trusting)
            defer { Task { [http] in try? await http.shutdown() } }
            let status = try await good.status(timeout: .seconds(5))
            #expect(status.node == "pg-a")
            let promise = try await good.promise(timeout: .seconds(5))
            #expect(promise.agentEpoch == 0)
            // Another CA's client refuses the agent's certificate: nothing is sent.
            let wrong = try TLSFiles(certFile: nil, keyFile: nil, caFile: otherCA.ca, requireClientCertificates: false).client()
            let (stranger, strangerHTTP) = client(base, tls: wrong)
            defer { Task { [strangerHTTP] in try? await strangerHTTP.shutdown() } }
            let refused = await #expect(throws: AgentClient.Failure.self) { try await stranger.status(timeout: .seconds(5)) }
            #expect(refused?.kind == .unreachable)
            #expect(refused.map { "\($0)".lowercased().contains("certificate") } == true, "\(String(describing: refused))")
            // Plain HTTP to the HTTPS port gets no answer a client could take for the agent's.
            let plain = AgentClient(baseURL: base.replacingOccurrences(of: "https:", with: "http:"), node: "pg-a", key: agentKey)
            await #expect(throws: AgentClient.Failure.self) { try await plain.status(timeout: .seconds(5)) }
        }
    }

    @Test func aCertificateForAnotherAddressIsRefused() async throws {
        // The CA is right, but the certificate names 10.9.9.9, not the 127.0.0.1 of the URL.
        let certs = try TestCertificates.make(["pg-a=10.9.9.9,pg-a.internal"])
        try await withTLSAgent(TLSSettings(certFile: certs.cert("pg-a"), keyFile: certs.key("pg-a"))) { base, _ in
            let trusting = try TLSFiles(certFile: nil, keyFile: nil, caFile: certs.ca, requireClientCertificates: false).client()
            let (caller, http) = client(base, tls: trusting)
            defer { Task { [http] in try? await http.shutdown() } }
            let refused = await #expect(throws: AgentClient.Failure.self) { try await caller.status(timeout: .seconds(5)) }
            #expect(refused?.kind == .unreachable)
        }
    }

    @Test func requiredClientCertificatesKeepOutCallersWithoutOne() async throws {
        let certs = try TestCertificates.make(["pg-a=127.0.0.1", "monitor=127.0.0.1"])
        let otherCA = try TestCertificates.make(["stranger=127.0.0.1"])
        let tls = TLSSettings(certFile: certs.cert("pg-a"), keyFile: certs.key("pg-a"), caFile: certs.ca, clientCertificates: .require)
        try await withTLSAgent(tls) { base, _ in
            let withCertificate = try TLSFiles(certFile: certs.cert("monitor"), keyFile: certs.key("monitor"), caFile: certs.ca,
                                               requireClientCertificates: false).client()
            let (monitor, http) = client(base, tls: withCertificate)
            defer { Task { [http] in try? await http.shutdown() } }
            #expect(try await monitor.status(timeout: .seconds(5)).node == "pg-a")
            // The fence goes out on a connection of its own, with the certificate too.
            let fenced = try await monitor.fence(epoch: Epoch(2), timeout: .seconds(5))
            #expect(fenced.method == "read-only")
            #expect(try await monitor.status(timeout: .seconds(5)).fencedUnderEpoch == 2)

            let anonymous = try TLSFiles(certFile: nil, keyFile: nil, caFile: certs.ca, requireClientCertificates: false).client()
            let (nobody, nobodyHTTP) = client(base, tls: anonymous)
            defer { Task { [nobodyHTTP] in try? await nobodyHTTP.shutdown() } }
            await #expect(throws: AgentClient.Failure.self) { try await nobody.status(timeout: .seconds(5)) }

            let foreign = try TLSFiles(certFile: otherCA.cert("stranger"), keyFile: otherCA.key("stranger"), caFile: certs.ca,
                                       requireClientCertificates: false).client()
            let (stranger, strangerHTTP) = client(base, tls: foreign)
            defer { Task { [strangerHTTP] in try? await strangerHTTP.shutdown() } }
            await #expect(throws: AgentClient.Failure.self) { try await stranger.fence(epoch: Epoch(3), timeout: .seconds(5)) }
            #expect(try await monitor.status(timeout: .seconds(5)).fencedUnderEpoch == 2, "the refused fence did not reach the agent")
        }
    }

    @Test func aMissingOrWrongFileStopsTheAgentNamingIt() throws {
        let certs = try TestCertificates.make(["pg-a=127.0.0.1"])
        var config = agentConfig(node: "pg-a", region: "fra")
        config.tls = TLSSettings(certFile: certs.cert("pg-a"), keyFile: "/nonexistent/pg-a.key")
        #expect { try Agent(config: config, logger: testLogger()) } throws: { "\($0)".contains("tls.key_file") && "\($0)".contains("/nonexistent/pg-a.key") }
        config.tls = TLSSettings(certFile: certs.key("pg-a"), keyFile: certs.key("pg-a"))
        #expect { try Agent(config: config, logger: testLogger()) } throws: { "\($0)".contains("tls.cert_file") }
        config.tls = TLSSettings(caFile: certs.key("pg-a"))
        #expect { try Agent(config: config, logger: testLogger()) } throws: { "\($0)".contains("tls.ca_file") }
    }
}
