import LifeboatCore
import LifeboatTestSupport
import Testing

/// `failover.trigger: region`: the primary region's application tier down (corroborated) with its
/// database healthy moves database and traffic to a region whose application tier serves.
@Suite struct RegionTriggerTests {
    static var regionPolicy: FailoverPolicy {
        var policy = FailoverPolicy.default
        policy.trigger = .region
        return policy
    }

    @Test func aCorroboratedAppTierLossWithAHealthyDatabaseIsAZeroLossSwitchover() {
        var h = Harness(threeRegions, policy: Self.regionPolicy)
        h.steadyState()
        h.send(.appTier(region: "eu-west", verdict: .serving(healthy: 2, total: 2)))
        h.send(.appTier(region: "ap-south", verdict: .down(healthy: 0, total: 2, corroboratedBy: ["agent of pg-b"])))
        // The monitor alone seeing it is not enough.
        h.send(.appTier(region: "us-east", verdict: .uncorroborated(healthy: 0, total: 2, detail: "no other region's agent answered yet")))
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        let actions = h.send(.appTier(region: "us-east", verdict: .down(healthy: 0, total: 2, corroboratedBy: ["agent of pg-b"])))
        guard case .failingOver(let progress) = h.machine.state else { Issue.record("\(h.machine.state)"); return }
        #expect(progress.candidate == "pg-b", "the standby in the region that serves, not pg-c whose region is down too")
        #expect(progress.planned, "a healthy old primary is fenced caught up and demoted: nothing lost")
        #expect(!progress.manual)
        #expect(actions.transitionReasons.first?.hasPrefix("region us-east's application tier is down: 0 of 2 application nodes answer (min_healthy 1), seen by the monitor and by agent of pg-b") == true,
                "\(actions.transitionReasons)")
        #expect(actions.transitionReasons.first?.contains("region eu-west serves (2 of 2 application nodes answer)") == true)
    }

    @Test func withTheDefaultTriggerTheAppTierOnlyInforms() {
        var h = Harness(twoRegions)
        h.steadyState()
        h.send(.appTier(region: "eu-west", verdict: .serving(healthy: 1, total: 1)))
        let actions = h.send(.appTier(region: "us-east", verdict: .down(healthy: 0, total: 1, corroboratedBy: ["agent of pg-b"])))
        #expect(h.machine.state == .monitoring(primary: "pg-a"))
        #expect(actions.decisions == ["region us-east's application tier: 0 of 1 application nodes answer, confirmed by agent of pg-b"])
    }

    @Test func guardRailsAndNoServingRegionBlockItAndSaySoOnce() {
        var policy = Self.regionPolicy
        policy.automatic = false
        var manual = Harness(twoRegions, policy: policy)
        manual.steadyState()
        manual.send(.appTier(region: "eu-west", verdict: .serving(healthy: 1, total: 1)))
        let first = manual.send(.appTier(region: "us-east", verdict: .down(healthy: 0, total: 1, corroboratedBy: ["agent of pg-b"])))
        #expect(manual.machine.state == .monitoring(primary: "pg-a"))
        #expect(first.alerts.count == 1 && first.alerts[0].contains("automatic failover is off"))
        #expect(manual.send(.appTier(region: "us-east", verdict: .down(healthy: 0, total: 1, corroboratedBy: ["agent of pg-b", "agent of app-b1"]))).alerts.isEmpty,
                "the same blocker is not alerted again")

        var nowhere = Harness(twoRegions, policy: Self.regionPolicy)
        nowhere.steadyState()
        nowhere.send(.appTier(region: "eu-west", verdict: .down(healthy: 0, total: 1, corroboratedBy: ["agent of pg-a"])))
        let actions = nowhere.send(.appTier(region: "us-east", verdict: .down(healthy: 0, total: 1, corroboratedBy: ["agent of pg-b"])))
        #expect(nowhere.machine.state == .monitoring(primary: "pg-a"))
        #expect(actions.alerts.first?.contains("no standby is in a region whose application tier serves") == true, "\(actions.alerts)")

        // A lagging standby is still a candidate when the primary is healthy: the switchover waits for it.
        var lagging = Harness(twoRegions, policy: Self.regionPolicy)
        lagging.probe("pg-a", primary(0x9000_0000))
        lagging.probe("pg-b", standby(0x1000, streaming: true))
        lagging.send(.appTier(region: "eu-west", verdict: .serving(healthy: 1, total: 1)))
        lagging.send(.appTier(region: "us-east", verdict: .down(healthy: 0, total: 1, corroboratedBy: ["agent of pg-b"])))
        #expect(lagging.kind == .bumpingEpoch)
    }

    @Test func aDatabaseFailoverPrefersARegionWhoseAppTierServes() {
        var h = Harness(threeRegions, policy: Self.regionPolicy)
        h.steadyState()
        // pg-b would win on priority, but its region cannot serve.
        h.send(.appTier(region: "eu-west", verdict: .down(healthy: 0, total: 2, corroboratedBy: ["agent of pg-c"])))
        h.send(.appTier(region: "ap-south", verdict: .serving(healthy: 2, total: 2)))
        h.primaryFails()
        h.probe("pg-b", standby(streaming: false))
        h.probe("pg-c", standby(streaming: false))
        guard case .failingOver(let progress) = h.machine.state else { Issue.record("\(h.machine.state)"); return }
        #expect(progress.candidate == "pg-c")
        #expect(!progress.planned)
    }
}
