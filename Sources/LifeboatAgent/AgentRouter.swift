import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import LifeboatAgentAPI
import LifeboatCore
import LifeboatHTTP
import NIOCore

extension HealthSnapshot: ResponseEncodable {}

/// The agent's HTTP surface. Open: `/healthz`, `/primary`, `/replica`, `/metrics`. Signed
/// (`AgentSigning`): `POST /v1/actions/fence`, `/status`, `/sync-now`, `/rejoin`, `/demote`, `/probe`, and failsafe mode's `/failsafe` (from the
/// primary's agent), `/seal` and `/promise` (from the monitor).
public func buildAgentRouter(agent: Agent) -> Router<BasicRequestContext> {
    let router = Router()
    router.get("/healthz") { _, _ -> Response in
        let snapshot = await agent.health()
        return try jsonResponse(snapshot, status: snapshot.ok ? .ok : .serviceUnavailable)
    }
    for role in [DatabaseRole.primary, .replica] {
        router.get("/\(role.rawValue)") { _, _ -> Response in
            let current = await agent.currentRole()
            let body = ["role": current.rawValue, "node": agent.config.node]
            // 200 only when the local database has this role right now: a load balancer's role check.
            return try jsonResponse(body, status: current == role ? .ok : .serviceUnavailable)
        }
    }
    router.get("/metrics") { _, _ in
        _ = await agent.filesStatus().map { agent.metrics.record($0) }
        if let keeper = agent.leaseKeeper { agent.metrics.record(lease: await keeper.snapshot()) }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: agent.metrics.exposition())))
    }
    router.post("/v1/actions/fence") { request, context -> Response in
        let (body, signed) = try await verified(request, context, agent: agent, action: "fence")
        let order = try decode(FenceOrder.self, body)
        guard order.epoch == signed.epoch else {
            throw HTTPError(.badRequest, message: "the body's epoch \(order.epoch) is not the epoch the request is signed for (\(signed.epoch))")
        }
        do {
            let result = try await agent.fence(epoch: order.epoch)
            return try jsonResponse(result, status: result.fenced ? .ok : .internalServerError)
        } catch let stale as StaleOrder {
            agent.logger.warning("fence refused", metadata: ["fence.epoch": "\(stale.ordered)", "agent.epoch": "\(stale.known)"])
            return try jsonResponse(["error": stale.description], status: .conflict)
        }
    }
    router.post("/v1/actions/status") { request, context -> Response in
        _ = try await verified(request, context, agent: agent, action: "status")
        return try jsonResponse(await agent.status(), status: .ok)
    }
    router.post("/v1/actions/failsafe") { request, context -> Response in
        let (body, signed) = try await verified(request, context, agent: agent, action: "failsafe")
        let order = try decode(FailsafeRequest.self, body)
        guard order.epoch == signed.epoch else {
            throw HTTPError(.badRequest, message: "the body's epoch \(order.epoch) is not the epoch the request is signed for (\(signed.epoch))")
        }
        let answer = await agent.failsafe(order)
        return try jsonResponse(answer, status: answer.granted ? .ok : .conflict)
    }
    router.post("/v1/actions/seal") { request, context -> Response in
        let (body, signed) = try await verified(request, context, agent: agent, action: "seal")
        let order = try decode(SealOrder.self, body)
        guard order.epoch == signed.epoch else {
            throw HTTPError(.badRequest, message: "the body's epoch \(order.epoch) is not the epoch the request is signed for (\(signed.epoch))")
        }
        do {
            return try jsonResponse(try await agent.seal(epoch: order.epoch), status: .ok)
        } catch let stale as StaleOrder {
            return try jsonResponse(["error": stale.description], status: .conflict)
        }
    }
    router.post("/v1/actions/promise") { request, context -> Response in
        _ = try await verified(request, context, agent: agent, action: "promise")
        return try jsonResponse(agent.currentPromise(), status: .ok)
    }
    router.post("/v1/actions/rejoin") { request, context -> Response in
        let (body, signed) = try await verified(request, context, agent: agent, action: "rejoin")
        let order = try decode(RejoinOrder.self, body)
        guard order.epoch == signed.epoch else {
            throw HTTPError(.badRequest, message: "the body's epoch \(order.epoch) is not the epoch the request is signed for (\(signed.epoch))")
        }
        guard (1...65535).contains(order.port), !order.host.isEmpty, !order.primary.isEmpty else {
            throw HTTPError(.badRequest, message: "host, port (1-65535) and primary are required")
        }
        let report: RejoinReport
        do throws(RejoinFailure) { report = try await agent.rejoin(order) } catch {
            agent.logger.error("rejoin failed", metadata: ["rejoin.step": "\(error.step)", "rejoin.error": "\(error.error)"])
            return try jsonResponse(error, status: error.step == "check" ? .conflict : .internalServerError)
        }
        return try jsonResponse(report, status: .ok)
    }
    router.post("/v1/actions/demote") { request, context -> Response in
        let (body, signed) = try await verified(request, context, agent: agent, action: "demote")
        let order = try decode(FenceOrder.self, body)
        guard order.epoch == signed.epoch else {
            throw HTTPError(.badRequest, message: "the body's epoch \(order.epoch) is not the epoch the request is signed for (\(signed.epoch))")
        }
        do {
            return try jsonResponse(try await agent.demote(epoch: order.epoch), status: .ok)
        } catch let stale as StaleOrder {
            return try jsonResponse(["error": stale.description], status: .conflict)
        } catch let refusal as DemoteRefusal {
            return try jsonResponse(["error": refusal.description], status: .conflict)
        } catch {
            agent.logger.error("demote failed", metadata: ["demote.error": "\(error)"])
            return try jsonResponse(["error": "\(error)"], status: .internalServerError)
        }
    }
    router.post("/v1/actions/probe") { request, context -> Response in
        let (body, _) = try await verified(request, context, agent: agent, action: "probe")
        let order = try decode(ProbeOrder.self, body)
        guard (1...64).contains(order.targets.count) else {
            throw HTTPError(.badRequest, message: "targets: give 1 to 64 endpoints to check")
        }
        guard (10...30_000).contains(order.timeoutMilliseconds) else {
            throw HTTPError(.badRequest, message: "timeout_ms must be 10 to 30000")
        }
        for target in order.targets {
            guard let url = URL(string: target.url), ["http", "https", "tcp"].contains(url.scheme ?? ""), url.host != nil,
                  url.scheme != "tcp" || url.port != nil else {
                throw HTTPError(.badRequest, message: "targets: \(LogSafe.escape(target.url, maxLength: 120)) is not an http://, https:// or tcp://host:port URL")
            }
        }
        return try jsonResponse(await agent.probe(order), status: .ok)
    }
    router.post("/v1/actions/sync-now") { request, context -> Response in
        let (body, signed) = try await verified(request, context, agent: agent, action: "sync-now")
        let order = try decode(SyncOrder.self, body)
        guard order.epoch == signed.epoch else {
            throw HTTPError(.badRequest, message: "the body's epoch \(order.epoch) is not the epoch the request is signed for (\(signed.epoch))")
        }
        do {
            return try jsonResponse(try await agent.syncNow(epoch: order.epoch, primaryRegion: order.primaryRegion), status: .ok)
        } catch let refusal as SyncRefusal {
            return try jsonResponse(["error": refusal.description], status: .conflict)
        } catch let error as AgentError {
            return try jsonResponse(["error": error.description], status: .conflict)
        } catch let stale as StaleOrder {
            return try jsonResponse(["error": stale.description], status: .conflict)
        }
    }
    return router
}

/// The body and what it was signed for, once the signature, node, timestamp and nonce check
/// out; otherwise 401 and nothing runs.
private func verified(_ request: Request, _ context: BasicRequestContext, agent: Agent, action: String) async throws -> ([UInt8], VerifiedRequest) {
    var request = request
    let buffer = try await request.collectBody(upTo: 64 * 1024)
    let body = Array(buffer.readableBytesView)
    let headers = request.headers
    func header(_ name: String) -> String? { headers.first { $0.name.canonicalName == name.lowercased() }?.value }
    switch agent.verifier.verify(method: request.method.rawValue, path: request.uri.path, node: agent.config.node, headers: header, body: body) {
    case .failure(let failure):
        agent.metrics.rejected(failure)
        agent.logger.warning("signed request refused", metadata: ["agent.action": "\(action)", "agent.reason": "\(failure.rawValue)"])
        throw HTTPError(.unauthorized, message: failure.message)
    case .success(let signed):
        agent.metrics.action(action)
        agent.logger.info("action accepted", metadata: ["agent.action": "\(action)", "agent.epoch": "\(signed.epoch)"])
        return (body, signed)
    }
}

private func decode<T: AgentBody>(_ type: T.Type, _ body: [UInt8]) throws -> T {
    do { return try T.decodeStrictly(Data(body)) } catch let error as AgentBodyError {
        throw HTTPError(.badRequest, message: error.description)
    }
}

private func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

/// The agent's HTTP server as `lifeboat agent` runs it: HTTPS when its config has a certificate;
/// cancelling it shuts it down gracefully (see `GracefulServer`).
public func buildAgentApplication(agent: Agent, logger: Logger) throws -> GracefulServer {
    let listen = agent.config.listen
    let server: HTTPServerBuilder = try agent.serverTLS.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
    let app = Application(router: buildAgentRouter(agent: agent), server: server,
                          configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "lifeboat-agent"),
                          logger: logger)
    return GracefulServer(app, logger: logger)
}
