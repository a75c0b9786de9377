import Foundation
import Hummingbird
import LifeboatCore

extension StatusView: ResponseEncodable {}
extension EventsView: ResponseEncodable {}
extension PlanView: ResponseEncodable {}
extension MessageView: ResponseEncodable {}

/// The monitor's API routes (docs/api.yaml). Mutating routes need `Authorization: Bearer TOKEN`.
/// Request bodies and query parameters are checked strictly: an unknown key, a wrong type or a
/// value out of bounds is a 400 naming it, and nothing is done.
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
    router.get("/v1/status") { request, _ in
        try QueryParameters.check(request, allowed: [])
        return await control.status()
    }
    router.get("/v1/events") { request, _ -> EventsView in
        try QueryParameters.check(request, allowed: ["since", "limit", "newest"])
        let since = try QueryParameters.integer(request, "since", in: 0...Int64.max)
        let limit = try QueryParameters.integer(request, "limit", in: 1...1000)
        if let newest = try QueryParameters.integer(request, "newest", in: 1...1000) {
            guard since == nil, limit == nil else { throw APIRequestError("query parameter 'newest' goes alone (not with since or limit)") }
            return EventsView(events: try await control.newestEvents(limit: Int(newest)))
        }
        return EventsView(events: try await control.events(after: since ?? 0, limit: Int(limit ?? 200)))
    }
    let mutating = router.group("/v1").add(middleware: BearerTokenMiddleware(token: token))
    mutating.post("/pause") { request, context -> Response in
        let body = try await StrictBody.decode(OperatorRequest.self, request, context) ?? OperatorRequest()
        return try await answer(control.command(.pause(by: body.by ?? "api")), dryRun: false, request, context)
    }
    mutating.post("/resume") { request, context -> Response in
        let body = try await StrictBody.decode(OperatorRequest.self, request, context) ?? OperatorRequest()
        return try await answer(control.command(.resume(by: body.by ?? "api")), dryRun: false, request, context)
    }
    mutating.post("/failover") { request, context -> Response in
        let body = try await StrictBody.decode(FailoverRequest.self, request, context) ?? FailoverRequest()
        let event = FailoverEvent.operatorFailover(to: body.to, by: body.by ?? "api")
        if body.dryRun == true { return try await answer(.outcome(control.preview(event)), dryRun: true, request, context) }
        // With no primary identified, nothing compares the standbys' data with a primary's: the
        // operator types the node's name a second time.
        if let to = body.to, body.confirm != to, await control.status().state == StateKind.discovering.rawValue {
            let view = PlanView(accepted: false, dryRun: false, from: nil, to: to, epoch: nil,
                                refusal: "no primary is identified, so nothing shows whether \(LogSafe.escape(to, maxLength: 64)) has the newest data: repeat with confirm set to its name (lifeboat failover --to \(LogSafe.escape(to, maxLength: 64)) --confirm \(LogSafe.escape(to, maxLength: 64)))",
                                steps: [], lossBytes: nil)
            return try view.response(from: request, context: context).withStatus(.conflict)
        }
        return try await answer(control.command(event), dryRun: false, request, context)
    }
    mutating.post("/switchover") { request, context -> Response in
        let body = try await StrictBody.decode(FailoverRequest.self, request, context) ?? FailoverRequest()
        let event = FailoverEvent.operatorSwitchover(to: body.to, by: body.by ?? "api")
        if body.dryRun == true { return try await answer(.outcome(control.preview(event)), dryRun: true, request, context) }
        return try await answer(control.command(event), dryRun: false, request, context)
    }
    mutating.post("/rejoin") { request, context -> Response in
        guard let body = try await StrictBody.decode(RejoinRequest.self, request, context) else {
            throw APIRequestError("the body must be a JSON object with the keys \(RejoinRequest.keys.joined(separator: ", ")) (node is required)")
        }
        guard !body.node.isEmpty, body.node.count <= 128 else { throw APIRequestError("field 'node' must name a database node") }
        switch await control.rejoin(body, by: body.by ?? "api") {
        case .done(let report):
            return try report.response(from: request, context: context)
        case .refused(let why):
            return try MessageView(message: why).response(from: request, context: context).withStatus(.conflict)
        case .failed(let failure):
            return try failure.response(from: request, context: context).withStatus(.internalServerError)
        case .notLeader(let leader, let api):
            return try await answer(.notLeader(leader: leader, api: api), dryRun: false, request, context)
        }
    }
    return router
}

/// The HTTP answer to what a command came to: 202 started (200 for a dry run or a command with
/// nothing to plan), 409 refused with the core's reason, 503 when the monitor could not save its
/// decision (nothing was done).
private func answer(_ answer: CommandAnswer, dryRun: Bool, _ request: Request, _ context: BasicRequestContext) throws -> Response {
    switch answer {
    case .outcome(.started(let plan)):
        let view = PlanView(accepted: !dryRun, dryRun: dryRun, from: plan.from, to: plan.candidate, epoch: plan.epoch.value,
                            refusal: nil, steps: plan.steps.map(\.description), lossBytes: plan.lossBytes)
        return try view.response(from: request, context: context).withStatus(dryRun ? .ok : .accepted)
    case .outcome(.refused(let refusal)):
        let view = PlanView(accepted: false, dryRun: dryRun, from: nil, to: nil, epoch: nil, refusal: refusal.description, steps: [], lossBytes: nil)
        return try view.response(from: request, context: context).withStatus(.conflict)
    case .outcome(.done(let text)):
        return try MessageView(message: text).response(from: request, context: context)
    case .notSaved(let why):
        return try MessageView(message: "the monitor cannot save its state, so nothing was done: \(why)")
            .response(from: request, context: context).withStatus(.serviceUnavailable)
    case .notRunning:
        return try MessageView(message: "the monitor is shutting down; nothing was done").response(from: request, context: context)
            .withStatus(.serviceUnavailable)
    case .notLeader(let leader, let api):
        let whom = leader.map { "the leading monitor is \($0)" + (api.map { " (\($0)): send the command there" } ?? "") }
            ?? "no monitor leads right now (etcd unreachable, or an election is under way)"
        return try MessageView(message: "this monitor does not lead, so nothing was done; \(whom)").response(from: request, context: context)
            .withStatus(.serviceUnavailable)
    }
}

/// A 400 with a `Message` body naming what was wrong.
public struct APIRequestError: HTTPResponseError, CustomStringConvertible {
    public var message: String
    public var status: HTTPResponse.Status { .badRequest }
    public var description: String { message }

    public init(_ message: String) { self.message = message }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(MessageView(message: message))
        return Response(status: .badRequest, headers: [.contentType: "application/json; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Query parameters: only the documented ones, each at most once, integers within bounds.
enum QueryParameters {
    static func check(_ request: Request, allowed: Set<String>) throws {
        var seen: Set<String> = []
        for (key, _) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else {
                let known = allowed.isEmpty ? "this endpoint takes none" : "known: \(allowed.sorted().joined(separator: ", "))"
                throw APIRequestError("unknown query parameter '\(LogSafe.escape(name, maxLength: 64))' (\(known))")
            }
            guard seen.insert(name).inserted else { throw APIRequestError("query parameter '\(name)' given more than once") }
        }
    }

    static func integer(_ request: Request, _ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            let bound = range.upperBound == Int64.max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            throw APIRequestError("query parameter '\(name)' must be a whole number \(bound), got '\(LogSafe.escape(String(text), maxLength: 64))'")
        }
        return value
    }
}

/// JSON request bodies decoded strictly: an object with only the documented keys, each of the
/// documented type. Empty bodies mean "no options".
enum StrictBody {
    static let maximumBytes = 64 * 1024

    static func decode<T: StrictlyDecodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T? {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: maximumBytes) } catch {
            throw APIRequestError("the body is larger than \(maximumBytes) bytes")
        }
        guard buffer.readableBytes > 0 else { return nil }
        let data = Data(buffer.readableBytesView)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw APIRequestError("the body is not valid JSON")
        }
        guard let fields = object as? [String: Any] else {
            throw APIRequestError("the body must be a JSON object with the keys \(T.keys.joined(separator: ", "))")
        }
        for key in fields.keys.sorted() where !T.keys.contains(key) {
            let hint = T.keys.first { $0.replacingOccurrences(of: "_", with: "").lowercased() == key.replacingOccurrences(of: "_", with: "").lowercased() }
            throw APIRequestError("unknown field '\(LogSafe.escape(key, maxLength: 64))'" + (hint.map { " (did you mean '\($0)'?)" } ?? "")
                + "; this request takes \(T.keys.joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(expected, context), let DecodingError.valueNotFound(expected, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIRequestError("field '\(field)' must be \(describe(expected))")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIRequestError("field '\(field)' " + (field == "reinit" ? "must be one of never, fallback, always" : "has a value this request does not accept"))
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIRequestError("field '\(key.stringValue)' is required")
        } catch let error as APIRequestError {
            throw error
        } catch {
            throw APIRequestError("the body does not fit this request: \(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        if type == Bool.self { return "true or false" }
        if type == String.self { return "a string" }
        if type == ReinitChoice.self { return "one of never, fallback, always" }
        return "of type \(type)"
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
