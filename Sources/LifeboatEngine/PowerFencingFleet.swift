import LifeboatCore
import LifeboatPorts

/// Fence escalation: read-only (SQL), stop (through the agent), then — when neither reached the old
/// primary — its machine powered off through the provider's API. A machine seen off is a confirmed
/// fence: the failover need not wait for the old primary's lease. When the lease already protects
/// the promotion (it ran out or was released), the power-off is asked for but not waited for.
public struct PowerFencingFleet: FleetDecorator {
    public let base: any DatabaseFleet
    let power: any PowerSwitch
    /// How long to wait for the machine to be off when nothing else protects the promotion.
    let wait: Duration

    public init(base: any DatabaseFleet, power: any PowerSwitch, wait: Duration) {
        self.base = base
        self.power = power
        self.wait = wait
    }

    public func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration) async throws -> FenceOutcome {
        try await fence(node, epoch: epoch, timeout: timeout, connectTimeout: connectTimeout, leaseProtected: false)
    }

    public func fence(_ node: String, epoch: Epoch, timeout: Duration, connectTimeout: Duration, leaseProtected: Bool) async throws -> FenceOutcome {
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = try await base.fence(node, epoch: epoch, timeout: timeout, connectTimeout: connectTimeout)
        guard case .unreachable(let failure) = outcome, power.covers(node) else { return outcome }
        // Within the step's own deadline, less a moment to answer.
        let left = timeout - started.duration(to: clock.now) - .milliseconds(200)
        let wait = leaseProtected ? Duration.zero : max(.zero, min(self.wait, left))
        do {
            switch try await power.powerOff(node, wait: wait) {
            case .off(let detail):
                return .fenced(detail: "powered off: \(detail) (\(failure.detail))")
            case .requested(let detail):
                return .unreachable(ProbeFailure(failure.kind, "\(failure.detail); power-off \(detail)"))
            }
        } catch {
            return .unreachable(ProbeFailure(failure.kind, "\(failure.detail); power-off failed: \(error)"))
        }
    }
}
