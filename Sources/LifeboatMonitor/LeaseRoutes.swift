import Foundation
import Hummingbird
import LifeboatAgentAPI
import LifeboatCore
import LifeboatEngine
import Logging

/// The monitor's side of the primary's lease: agents renew and release it here, each request
/// signed with the agents' key for the sending node (the node must be one of the config's
/// database nodes, and the body must name the same node).
enum LeaseRoutes {
    /// `peers`: every node's agent URL when failsafe mode is on (nil: off); a grant names the others.
    /// With several monitors only the leading one answers; the others say so with a 503 (no lease
    /// answer), and an agent that lists every monitor takes the leader's.
    static func add(to router: Router<BasicRequestContext>, slot: EngineSlot, key: String, nodes: Set<String>,
                    peers: [String: String]?, logger: Logger) {
        let verifier = RequestVerifier(key: AgentSigning.key(key))
        router.post("/v1/lease/renew") { request, context -> Response in
            let node: String
            switch await verifiedNode(request, verifier: verifier, nodes: nodes, logger: logger) {
            case .success(let verified): node = verified
            case .failure(let problem): return try json(["message": problem.message], problem.status)
            }
            guard let engine = slot.engine else { return try await notLeading(slot) }
            switch await engine.lease(.renew(node: node)) {
            case .granted(let epoch, let ttl):
                var answer = LeaseResponse(granted: true, released: false, epoch: epoch.value, ttlMilliseconds: ttl.milliseconds, refusal: nil)
                answer.failsafePeers = peers.map { peers in
                    peers.filter { $0.key != node }.sorted { $0.key < $1.key }.map { FailsafePeer(node: $0.key, url: $0.value) }
                }
                return try json(answer, .ok)
            case .released:
                return try json(LeaseResponse(granted: false, released: true, epoch: nil, ttlMilliseconds: nil, refusal: nil), .ok)
            case .refused(let refusal):
                return try json(LeaseResponse(granted: false, released: false, epoch: nil, ttlMilliseconds: nil, refusal: refusal.description,
                                              refusalCode: code(refusal)), .conflict)
            }
        }
        router.post("/v1/lease/status") { request, context -> Response in
            switch await verifiedNode(request, verifier: verifier, nodes: nodes, logger: logger) {
            case .success: break
            case .failure(let problem): return try json(["message": problem.message], problem.status)
            }
            guard let engine = slot.engine else { return try await notLeading(slot) }
            return try json(await status(engine), .ok)
        }
        router.post("/v1/lease/release") { request, context -> Response in
            let node: String
            switch await verifiedNode(request, verifier: verifier, nodes: nodes, logger: logger) {
            case .success(let verified): node = verified
            case .failure(let problem): return try json(["message": problem.message], problem.status)
            }
            guard let engine = slot.engine else { return try await notLeading(slot) }
            switch await engine.lease(.release(node: node)) {
            case .released, .granted:
                return try json(LeaseResponse(granted: false, released: true, epoch: nil, ttlMilliseconds: nil, refusal: nil), .ok)
            case .refused(let refusal):
                return try json(LeaseResponse(granted: false, released: false, epoch: nil, ttlMilliseconds: nil, refusal: refusal.description,
                                              refusalCode: code(refusal)), .conflict)
            }
        }
    }

    /// The lease store's view for agents: epoch, primary, lease, whether a failover runs.
    static func status(_ engine: Engine<ContinuousClock>) async -> LeaseStatusResponse {
        let state = await engine.state
        let epoch = await engine.epoch.value
        var primary: String?
        var running = false
        switch state {
        case .monitoring(let p), .confirming(let p, _, _), .holding(let p, _): primary = p
        case .trafficNotSwitched(let p, _): primary = p.candidate
        case .failingOver, .failed: running = true
        case .discovering: break
        }
        let topology = await engine.topology
        let region = primary.flatMap { name in topology.node(named: name)?.region }
        let lease: LeaseStatusResponse.Lease
        switch await primary.asyncMap({ await engine.leaseView(of: $0) }) {
        case .valid?: lease = .valid
        case .expired?: lease = .expired
        case .released?: lease = .released
        case .notInUse?: lease = .notInUse
        case .unknown?, nil: lease = .unknown
        }
        return LeaseStatusResponse(epoch: epoch, primary: primary, primaryRegion: region, lease: lease, failoverRunning: running)
    }

    /// A monitor that does not lead: no lease answer, but who leads.
    static func notLeading(_ slot: EngineSlot) async throws -> Response {
        let leader = await slot.leadership?.leader
        return try json(NotLeading(message: "this monitor does not lead", leader: leader?.monitor, leaderAPI: leader?.api), .serviceUnavailable)
    }

    struct NotLeading: Encodable {
        var message: String
        var leader: String?
        var leaderAPI: String?
        enum CodingKeys: String, CodingKey { case message, leader, leaderAPI = "leader_api" }
    }

    static func code(_ refusal: LeaseRefusal) -> LeaseRefusalCode {
        switch refusal {
        case .notInUse: return .notInUse
        case .notThePrimary(_, nil): return .noPrimaryYet
        case .notThePrimary: return .notThePrimary
        case .failoverRunning: return .failoverRunning
        }
    }

    struct Problem: Error {
        var status: HTTPResponse.Status
        var message: String
    }

    private static func verifiedNode(_ request: Request, verifier: RequestVerifier, nodes: Set<String>, logger: Logger) async -> Result<String, Problem> {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 4096) else { return .failure(Problem(status: .badRequest, message: "the body is too large")) }
        let body = Array(buffer.readableBytesView)
        let headers = request.headers
        func header(_ name: String) -> String? { headers.first { $0.name.canonicalName == name.lowercased() }?.value }
        switch verifier.verify(method: request.method.rawValue, path: request.uri.path, node: nil, headers: header, body: body) {
        case .failure(let failure):
            logger.warning("lease request refused", metadata: ["lease.reason": "\(failure.rawValue)"])
            return .failure(Problem(status: .unauthorized, message: failure.message))
        case .success(let signed):
            guard nodes.contains(signed.node) else {
                return .failure(Problem(status: .forbidden, message: "\(LogSafe.escape(signed.node)) is not a database node with an agent in this cluster"))
            }
            guard let parsed = try? LeaseRequestBody.decodeStrictly(Data(body)), parsed.node == signed.node else {
                return .failure(Problem(status: .badRequest, message: "the body must be {\"node\": NAME} naming the node the request is signed for"))
            }
            return .success(signed.node)
        }
    }

    private static func json<T: Encodable>(_ value: T, _ status: HTTPResponse.Status) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async -> T) async -> T? {
        guard let self else { return nil }
        return await transform(self)
    }
}
