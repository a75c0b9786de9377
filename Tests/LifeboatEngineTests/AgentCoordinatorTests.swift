import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import LifeboatTestSupport
import Logging
import Synchronization
import Testing

/// The monitor's view of the agents after a failover: refreshed at once, not at the next interval.
@Suite struct AgentCoordinatorTests {
    final class FakeAgent: NodeAgent {
        let node: String
        let region: String
        var endpoint: String { "fake://\(node)" }
        let role = Mutex("replica")
        let asked = Mutex(0)
        let ordered = Mutex<[ReplicationOrder]>([])

        init(node: String, region: String) {
            self.node = node
            self.region = region
        }

        func status(timeout: Duration) async throws -> AgentReport {
            asked.withLock { $0 += 1 }
            let order = ordered.withLock { $0.last } ?? ReplicationOrder(epoch: 0, primaryRegion: "us-east")
            return AgentReport(role: role.withLock { $0 }, deploymentHash: "h", deploymentFiles: ["app"],
                               files: AgentFilesReport(order: order, source: order.primaryRegion == region, refusal: nil, paths: []))
        }

        func syncNow(_ order: ReplicationOrder, timeout: Duration) async throws -> AgentFilesReport {
            ordered.withLock { $0.append(order) }
            return AgentFilesReport(order: order, source: order.primaryRegion == region, refusal: nil, paths: [])
        }

        let promise = Mutex<FailsafePromiseReport?>(nil)
        func failsafePromise(timeout: Duration) async throws -> FailsafePromiseReport? { promise.withLock { $0 } }
    }

    @Test func aNewSettledOrderIsAnnouncedAndTheAgentsReReadAtOnce() async throws {
        let east = FakeAgent(node: "pg-a", region: "us-east"), west = FakeAgent(node: "pg-b", region: "eu-west")
        let order = Mutex<ReplicationOrder?>(ReplicationOrder(epoch: 0, primaryRegion: "us-east"))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // An interval far longer than the test: only the change of order can explain a re-read.
        let coordinator = AgentCoordinator(agents: [east, west], interval: .seconds(3600), timeout: .seconds(1), logger: logger,
                                           settledOrder: { order.withLock { $0 } })
        let task = Task { try await coordinator.run() }
        defer { task.cancel() }
        try await waitFor("first poll") { await coordinator.current().allSatisfy { $0.checkedAt != nil } }
        #expect(await coordinator.current().map(\.role) == ["replica", "replica"])

        // A failover to eu-west finished: the monitor now names epoch 1 in eu-west.
        west.role.withLock { $0 = "primary" }
        order.withLock { $0 = ReplicationOrder(epoch: 1, primaryRegion: "eu-west") }
        try await waitFor("agents told and re-read after the failover", timeout: .seconds(5)) {
            let told = [east, west].allSatisfy { $0.ordered.withLock { $0.last?.epoch } == 1 }
            let current = await coordinator.current()
            return told && current.first { $0.node == "pg-b" }?.role == "primary" && current.allSatisfy { $0.files?.order.epoch == 1 }
        }
        let announced = [ReplicationOrder(epoch: 0, primaryRegion: "us-east"), ReplicationOrder(epoch: 1, primaryRegion: "eu-west")]
        #expect(east.ordered.withLock { $0 } == announced)
        #expect(west.ordered.withLock { $0 } == announced)
        #expect(await coordinator.current().first { $0.node == "pg-a" }?.files?.order.epoch == 1)
    }
}
