import Foundation
import LifeboatSandbox
import LifeboatTestSupport
import Testing

/// One run of each partition scenario: regions in network namespaces, agents and clients as real
/// `lifeboat` processes there, silent nftables cuts. Needs root (the suite's CI runs as root and
/// installs nftables); `Benchmarks/partition-drills.sh` runs each scenario many times.
@Suite(.serialized) struct PartitionDrillTests {
    /// The `lifeboat` executable built next to this test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lifeboat").path
    }

    func run(_ scenario: PartitionScenario, monitors: Int? = nil) async throws -> DrillReport? {
        if case .notRoot? = NetworkLab.unavailable() {
            Issue.record("partition drills cannot run here: \(NetworkLab.Obstacle.notRoot)")
            return nil
        }
        let report = try await PartitionDrill(scenario: scenario, binary: Self.binary, monitors: monitors, logger: testLogger()).run()
        #expect(report.passed, "\(report.problems)\n\(report.text)")
        let partition = try #require(report.partition)
        // Never two servers taking writes at the same poll, whatever the scenario.
        #expect(partition.twoWritablePolls == 0)
        #expect(partition.writabilityPolls > 20, "the writability watch did not run")
        return report
    }

    @Test func isolatingThePrimarysRegionFailsOverWithoutASingleWriteOnTheOldPrimaryAfterThePromotion() async throws {
        guard let report = try await run(.isolatePrimary) else { return }
        #expect(report.promotions == 1)
        #expect(report.newPrimary == "pg-eu-west")
        #expect(report.writesAckedByOldPrimaryAfterPromotion == 0)
        let rto = try #require(report.rtoSeconds)
        // The lease (4 s) bounds it from below: the standby is never promoted before the old
        // primary's lease has run out.
        #expect(rto > 3, "promoted \(rto) s after the cut: before the old primary's lease could have run out")
        let clients = try #require(report.partition?.clients)
        #expect(clients[1].afterFault > 0, "the other region's client never wrote again")
        // The isolated primary stopped taking its own region's writes once its lease ran out.
        let lastOld = try #require(report.timeline.first { $0.event == "last-old" })
        let promoted = try #require(report.timeline.first { $0.event == "promoted" })
        #expect(lastOld.at < promoted.at)
    }

    @Test func cuttingOnlyTheMonitorOffNeverFailsOverAndThePrimaryKeepsWriting() async throws {
        guard let report = try await run(.cutMonitor) else { return }
        #expect(report.promotions == 0)
        #expect(report.epoch == 0)
        let partition = try #require(report.partition)
        // Failsafe: the primary kept its lease on the standby's promises the whole time.
        #expect(partition.longestPrimaryRegionWriteGapSeconds < 1, "the primary stopped writing for \(partition.longestPrimaryRegionWriteGapSeconds) s")
        #expect(report.timeline.contains { $0.detail.contains("failsafe promise from standby pg-eu-west") })
    }

    @Test func blipsShorterThanTheLeaseNeverFailOver() async throws {
        guard let report = try await run(.blip) else { return }
        #expect(report.promotions == 0)
        #expect(report.epoch == 0)
        #expect(report.ackedWritesLost == 0)
    }

    @Test func anOldPrimaryRestartedWithItsOldDataTakesNoWrite() async throws {
        guard let report = try await run(.returnOfTheOldPrimary) else { return }
        #expect(report.promotions == 1)
        #expect(report.writesAckedByOldPrimaryAfterPromotion == 0)
    }

    // MARK: - Three monitors over a three-member etcd (a monitor and a member in each region and at the witness)

    /// The leading monitor sits in the region that is cut off: it steps down, another takes over,
    /// and the failover completes with no write on the old primary after the promotion.
    @Test func threeMonitorsFailOverWhenTheLeaderIsInTheLostRegion() async throws {
        guard let report = try await run(.isolatePrimary, monitors: 3) else { return }
        #expect(report.kind.contains("three monitors"))
        #expect(report.promotions == 1)
        #expect(report.newPrimary == "pg-eu-west")
        #expect(report.writesAckedByOldPrimaryAfterPromotion == 0)
        let lastOld = try #require(report.timeline.first { $0.event == "last-old" })
        let promoted = try #require(report.timeline.first { $0.event == "promoted" })
        #expect(lastOld.at < promoted.at)
    }

    /// The leader is killed right after storing the new epoch: another finishes that failover.
    @Test func aLeaderKilledMidFailoverIsReplacedAndTheFailoverCompletesOnce() async throws {
        guard let report = try await run(.monitorCrash) else { return }
        #expect(report.promotions == 1)
        #expect(report.epoch == 1, "one failover, one epoch")
        #expect(report.newPrimary == "pg-eu-west")
        #expect(report.timeline.contains { $0.detail.contains("resuming after a restart") })
    }

    @Test func losingEtcdsRaftLeaderNeitherFailsOverNorStopsThePrimary() async throws {
        guard let report = try await run(.etcdMemberLoss) else { return }
        #expect(report.promotions == 0)
        #expect(report.epoch == 0)
        #expect(report.ackedWritesLost == 0)
        let partition = try #require(report.partition)
        #expect(partition.longestPrimaryRegionWriteGapSeconds < 4)
    }
}
