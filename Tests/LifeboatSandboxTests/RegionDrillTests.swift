import Foundation
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// One run of each region scenario (failover.trigger: region) with real PostgreSQL, Knot, agents
/// and `lifeboat drill-app` processes as the application nodes.
@Suite(.serialized) struct RegionDrillTests {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lifeboat").path
    }

    @Test func theWholeApplicationTierOfThePrimarysRegionDyingMovesDatabaseAndTrafficTogether() async throws {
        let report = try await RegionDrill(kind: .appTierDown, binary: Self.binary, logger: testLogger()).run()
        #expect(report.passed, "\(report.problems)\n\(report.text)")
        #expect(report.promotions == 1 && report.newPrimary == "pg-eu-west")
        #expect(report.ackedWritesLost == 0, "the old primary was healthy: a switchover, nothing lost")
        #expect(report.region?.recordEverEmpty == false)
        let events = report.timeline.map(\.event)
        #expect(events.contains("decided") && events.contains("caught-up") && events.contains("dns") && events.contains("write"), "\(events)")
        #expect(report.timeline.contains { $0.detail.contains("confirmed by the agent of pg-eu-west") }, "corroborated from the other region")
    }

    @Test func oneApplicationNodeDyingOnlyTakesItsAddressOutOfTheRecord() async throws {
        let report = try await RegionDrill(kind: .appNodeDown, binary: Self.binary, logger: testLogger()).run()
        #expect(report.passed, "\(report.problems)\n\(report.text)")
        #expect(report.promotions == 0 && report.epoch == 0)
        let region = try #require(report.region)
        #expect(region.addressRemovedSeconds != nil && region.addressReturnedSeconds != nil && !region.recordEverEmpty)
        #expect(region.dnsAnswersSeen > 10)
    }
}
