import Foundation
import Hummingbird
import LifeboatCore

extension StatusView: ResponseEncodable {}
extension EventsView: ResponseEncodable {}
extension PlanView: ResponseEncodable {}
extension MessageView: ResponseEncodable {}

/// The monitor's API routes (docs/api.yaml). Mutating routes need `Authorization: Bearer TOKEN`.
public func buildRouter(control: any MonitorControl, token: String, metrics: (@Sendable () -> String)? = nil) -> Router<BasicRequestContext> {
    let router = Router()
    router.get("/healthz") { _, _ in MessageView(message: "ok") }
    if let metrics {
        // Prometheus text exposition format 0.0.4.
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics())))
        }
    }
    router.get("/v1/status") { _, _ in await control.status() }
    router.get("/v1/events") { request, _ -> EventsView in
        let since = request.uri.queryParameters.get("since", as: Int64.self) ?? 0
        let limit = min(1000, request.uri.queryParameters.get("limit", as: Int.self) ?? 200)
        return EventsView(events: try await control.events(since: since, limit: limit))
    }
    let mutating = router.group("/v1").add(middleware: BearerTokenMiddleware(token: token))
    mutating.post("/pause") { request, context -> MessageView in
        let who = try await operatorName(request, context)
        await control.submit(.pause(by: who))
        return MessageView(message: "paused by \(who): no automatic failover until resumed")
    }
    mutating.post("/resume") { request, context -> MessageView in
        let who = try await operatorName(request, context)
        await control.submit(.resume(by: who))
        return MessageView(message: "resumed by \(who)")
    }
    mutating.post("/failover") { request, context -> Response in
        let body = try await decodeOptional(FailoverRequest.self, request, context) ?? FailoverRequest()
        let who = body.by ?? "api"
        let plan = await control.plan(to: body.to)
        let dryRun = body.dryRun ?? false
        let view = PlanView(accepted: plan.refusal == nil && !dryRun, dryRun: dryRun, from: plan.from, to: plan.candidate,
                            refusal: plan.refusal, steps: plan.steps, lossBytes: plan.lossBytes)
        if plan.refusal == nil && !dryRun {
            await control.submit(.operatorFailover(to: plan.candidate, by: who))
        }
        let status: HTTPResponse.Status = plan.refusal != nil ? .conflict : (dryRun ? .ok : .accepted)
        return try view.response(from: request, context: context).withStatus(status)
    }
    mutating.post("/switchover") { request, context -> Response in
        let body = try await decodeOptional(FailoverRequest.self, request, context) ?? FailoverRequest()
        let who = body.by ?? "api"
        let plan = await control.plan(to: body.to)
        let view = PlanView(accepted: plan.refusal == nil, dryRun: false, from: plan.from, to: plan.candidate,
                            refusal: plan.refusal, steps: plan.steps.map { $0.hasPrefix("promote") ? "wait until the candidate has replayed the fenced primary's last WAL; " + $0 : $0 },
                            lossBytes: plan.refusal == nil ? 0 : nil)
        if plan.refusal == nil { await control.submit(.operatorSwitchover(to: plan.candidate, by: who)) }
        return try view.response(from: request, context: context).withStatus(plan.refusal == nil ? .accepted : .conflict)
    }
    return router
}

private func operatorName(_ request: Request, _ context: BasicRequestContext) async throws -> String {
    (try await decodeOptional(OperatorRequest.self, request, context))?.by ?? "api"
}

private func decodeOptional<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T? {
    var request = request
    let buffer = try await request.collectBody(upTo: 64 * 1024)
    guard buffer.readableBytes > 0 else { return nil }
    let decoder = JSONDecoder()
    do {
        return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
    } catch {
        throw HTTPError(.badRequest, message: "the body is not valid JSON for this request: \(error)")
    }
}

extension Response {
    func withStatus(_ status: HTTPResponse.Status) -> Response {
        var copy = self
        copy.status = status
        return copy
    }
}

/// Refuses requests without the configured bearer token (401), comparing in constant time.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        let expected = "Bearer " + token
        guard !token.isEmpty, header.utf8.count == expected.utf8.count,
              zip(header.utf8, expected.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            var response = try MessageView(message: "a bearer token is required (Authorization: Bearer TOKEN); see api.token_file")
                .response(from: request, context: context)
            response.status = .unauthorized
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}
