import Foundation
import Hummingbird
import HummingbirdTesting
import LifeboatCore
import LifeboatHTTP
import Synchronization
import Testing

/// The monitor's API through Hummingbird's test client (no sockets), against a control that
/// records what reached it: bad input is refused before anything is done.
@Suite struct RouterTests {
    final class Control: MonitorControl {
        let commands = Mutex<[FailoverEvent]>([])
        let previews = Mutex<[FailoverEvent]>([])
        let events = Mutex<[(Int64, Int)]>([])
        let answer: CommandAnswer

        init(answer: CommandAnswer = .outcome(.done("ok"))) { self.answer = answer }

        func status() async -> StatusView {
            StatusView(cluster: "shop", state: "monitoring", primary: "pg-a", epoch: 1, paused: false, lastDecision: "watching", nodes: [])
        }
        func events(after: Int64, limit: Int) async throws -> [EventView] {
            events.withLock { $0.append((after, limit)) }
            return []
        }
        func newestEvents(limit: Int) async throws -> [EventView] {
            events.withLock { $0.append((-1, limit)) }
            return []
        }
        func command(_ event: FailoverEvent) async -> CommandAnswer {
            commands.withLock { $0.append(event) }
            return answer
        }
        func preview(_ event: FailoverEvent) async -> CommandOutcome {
            previews.withLock { $0.append(event) }
            if case .outcome(let outcome) = answer { return outcome }
            return .done("preview")
        }
    }

    static let token = "s3cret-token"
    static let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]

    func app(_ control: Control) -> some ApplicationProtocol {
        Application(router: buildRouter(control: control, token: Self.token))
    }

    func message(_ response: TestResponse) -> String {
        (try? JSONDecoder().decode(MessageView.self, from: Data(response.body.readableBytesView)).message) ?? String(buffer: response.body)
    }

    static let plan = FailoverPlan(progress: FailoverProgress<ContinuousClock.Instant>(
        oldPrimary: "pg-a", candidate: "pg-b", epoch: Epoch(2), step: .bumpEpoch, attempt: 1, startedAt: .now, pendingRepoints: [],
        otherStandbys: [], manual: true, reason: "test"), topology: Topology(regions: [Region(name: "eu", priority: 1)],
        databaseNodes: [DatabaseNode(name: "pg-b", region: "eu")]), lossBytes: 1234)

    @Test func aMisspelledFieldIsA400NamingItAndNothingHappens() async throws {
        let control = Control(answer: .outcome(.started(Self.plan)))
        try await app(control).test(.router) { client in
            try await client.execute(uri: "/v1/failover", method: .post, headers: Self.auth, body: ByteBuffer(string: #"{"dryRun": true}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(message(response) == "unknown field 'dryRun' (did you mean 'dry_run'?); this request takes to, dry_run, by, confirm")
            }
            try await client.execute(uri: "/v1/pause", method: .post, headers: Self.auth, body: ByteBuffer(string: #"{"by": "a", "force": 1}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(message(response).hasPrefix("unknown field 'force'"))
            }
        }
        #expect(control.commands.withLock { $0 }.isEmpty, "a typo never starts a real failover")
        #expect(control.previews.withLock { $0 }.isEmpty)
    }

    @Test func wrongTypesAndNonObjectsAre400s() async throws {
        let control = Control()
        try await app(control).test(.router) { client in
            for (body, expected) in [
                (#"{"dry_run": "yes"}"#, "field 'dry_run' must be true or false"),
                (#"{"to": 7}"#, "field 'to' must be a string"),
                (#"[1, 2]"#, "the body must be a JSON object with the keys to, dry_run, by, confirm"),
                (#"{"to": "#, "the body is not valid JSON"),
            ] {
                try await client.execute(uri: "/v1/switchover", method: .post, headers: Self.auth, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(message(response) == expected, "\(body)")
                }
            }
        }
        #expect(control.commands.withLock { $0 }.isEmpty)
    }

    @Test func queryParametersAreBounded() async throws {
        let control = Control()
        try await app(control).test(.router) { client in
            for (query, expected) in [
                ("limit=-1", "query parameter 'limit' must be a whole number between 1 and 1000, got '-1'"),
                ("limit=1001", "query parameter 'limit' must be a whole number between 1 and 1000, got '1001'"),
                ("limit=ten", "query parameter 'limit' must be a whole number between 1 and 1000, got 'ten'"),
                ("since=-5", "query parameter 'since' must be a whole number at least 0, got '-5'"),
                ("sinse=5", "unknown query parameter 'sinse' (known: limit, newest, since)"),
                ("newest=0", "query parameter 'newest' must be a whole number between 1 and 1000, got '0'"),
                ("newest=5&since=2", "query parameter 'newest' goes alone (not with since or limit)"),
                ("limit=5&limit=6", "query parameter 'limit' given more than once"),
            ] {
                try await client.execute(uri: "/v1/events?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(message(response) == expected, "\(query)")
                }
            }
            try await client.execute(uri: "/v1/events?since=3&limit=1000", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/events", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/events?newest=50", method: .get) { #expect($0.status == .ok) }
        }
        #expect(control.events.withLock { $0.map { "\($0.0)/\($0.1)" } } == ["3/1000", "0/200", "-1/50"])
    }

    @Test func aDryRunIsAPreviewAndARealRequestACommand() async throws {
        let control = Control(answer: .outcome(.started(Self.plan)))
        try await app(control).test(.router) { client in
            try await client.execute(uri: "/v1/failover", method: .post, headers: Self.auth, body: ByteBuffer(string: #"{"dry_run": true, "to": "pg-b"}"#)) { response in
                #expect(response.status == .ok)
                let plan = try JSONDecoder().decode(PlanView.self, from: Data(response.body.readableBytesView))
                #expect(plan.dryRun && !plan.accepted && plan.to == "pg-b" && plan.epoch == 2 && plan.lossBytes == 1234)
            }
            #expect(control.commands.withLock { $0 }.isEmpty)
            try await client.execute(uri: "/v1/failover", method: .post, headers: Self.auth, body: ByteBuffer(string: #"{"by": "ops"}"#)) { response in
                #expect(response.status == .accepted)
            }
        }
        #expect(control.previews.withLock { $0 } == [FailoverEvent.operatorFailover(to: "pg-b", by: "api")])
        #expect(control.commands.withLock { $0 } == [FailoverEvent.operatorFailover(to: nil, by: "ops")])
    }

    @Test func theCoresRefusalIsA409AndAnUnsavedDecisionA503() async throws {
        let refused = Control(answer: .outcome(.refused(.primaryNotHealthy(primary: "pg-a"))))
        try await app(refused).test(.router) { client in
            try await client.execute(uri: "/v1/switchover", method: .post, headers: Self.auth) { response in
                #expect(response.status == .conflict)
                let plan = try JSONDecoder().decode(PlanView.self, from: Data(response.body.readableBytesView))
                #expect(plan.refusal == "primary pg-a is not healthy; use lifeboat failover")
                #expect(!plan.accepted)
            }
        }
        let unsaved = Control(answer: .notSaved("disk full"))
        try await app(unsaved).test(.router) { client in
            try await client.execute(uri: "/v1/pause", method: .post, headers: Self.auth) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(message(response) == "the monitor cannot save its state, so nothing was done: disk full")
            }
        }
    }

    @Test func mutatingCallsNeedTheToken() async throws {
        let control = Control()
        try await app(control).test(.router) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong-token!"], [.authorization: "Basic \(Self.token)"]] {
                try await client.execute(uri: "/v1/failover", method: .post, headers: headers) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                }
            }
            try await client.execute(uri: "/v1/status", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/status?verbose=1", method: .get) { #expect($0.status == .badRequest) }
        }
        #expect(control.commands.withLock { $0 }.isEmpty)
    }
}
