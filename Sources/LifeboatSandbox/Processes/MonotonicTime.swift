#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds: one time line shared by every process on the machine, so the
/// drill can put its clients' acknowledgements (printed by other processes, in other network
/// namespaces) on the same timeline as the monitor's journal.
public struct MonotonicTime: Sendable {
    /// This process's `ContinuousClock` instant and CLOCK_MONOTONIC taken at the same moment.
    let reference: ContinuousClock.Instant
    let referenceNanoseconds: Int64

    public init() {
        reference = ContinuousClock.now
        referenceNanoseconds = Self.nanoseconds()
    }

    public static func nanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// `instant` as CLOCK_MONOTONIC nanoseconds.
    public func nanoseconds(of instant: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = reference.duration(to: instant).components
        return referenceNanoseconds + seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// CLOCK_MONOTONIC nanoseconds as an instant of this process's `ContinuousClock`.
    public func instant(of nanoseconds: Int64) -> ContinuousClock.Instant {
        reference.advanced(by: .nanoseconds(nanoseconds - referenceNanoseconds))
    }
}
