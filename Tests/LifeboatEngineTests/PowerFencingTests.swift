import LifeboatCore
import LifeboatEngine
import LifeboatPorts
import Synchronization
import Testing

/// Fence escalation's last step: an old primary nothing else reached is powered off.
@Suite struct PowerFencingTests {
    final class FakePower: PowerSwitch {
        let asked = Mutex<[(node: String, wait: Duration)]>([])
        let answer: PowerOffOutcome
        init(answer: PowerOffOutcome) { self.answer = answer }
        func covers(_ node: String) -> Bool { node != "pg-c" }
        func powerOff(_ node: String, wait: Duration) async throws -> PowerOffOutcome {
            asked.withLock { $0.append((node, wait)) }
            return answer
        }
    }

    @Test func anUnreachableOldPrimaryPoweredOffCountsAsFenced() async throws {
        let power = FakePower(answer: .off(detail: "Linode 1 offline"))
        let fleet = PowerFencingFleet(base: FakeFleet(), power: power, wait: .seconds(30))
        let outcome = try await fleet.fence("pg-a", epoch: Epoch(1), timeout: .seconds(10), connectTimeout: .seconds(1))
        guard case .fenced(let detail) = outcome else { Issue.record("\(outcome)"); return }
        #expect(detail.hasPrefix("powered off: Linode 1 offline"))
        // Waited for within the step's time, less a moment to answer.
        let wait = try #require(power.asked.withLock { $0.first?.wait })
        #expect(wait > .seconds(9) && wait < .seconds(10))
    }

    @Test func withTheLeaseAlreadyProtectingThePromotionThePowerOffIsAskedForNotWaitedFor() async throws {
        let power = FakePower(answer: .requested(detail: "asked of the Linode API for Linode 1, not yet offline after 0s"))
        let fleet = PowerFencingFleet(base: FakeFleet(), power: power, wait: .seconds(30))
        let outcome = try await fleet.fence("pg-a", epoch: Epoch(1), timeout: .seconds(10), connectTimeout: .milliseconds(300), leaseProtected: true)
        guard case .unreachable(let failure) = outcome else { Issue.record("\(outcome)"); return }
        #expect(failure.detail.contains("power-off asked of the Linode API"))
        #expect(power.asked.withLock { $0.map(\.wait) } == [.zero])
    }

    @Test func aNodeWithoutAMachineToPowerOffIsLeftAsTheFenceFoundIt() async throws {
        let power = FakePower(answer: .off(detail: "-"))
        let fleet = PowerFencingFleet(base: FakeFleet(), power: power, wait: .seconds(30))
        let outcome = try await fleet.fence("pg-c", epoch: Epoch(1), timeout: .seconds(10), connectTimeout: .seconds(1))
        guard case .unreachable = outcome else { Issue.record("\(outcome)"); return }
        #expect(power.asked.withLock { $0.isEmpty })
    }
}
