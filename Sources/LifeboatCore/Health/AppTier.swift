/// What is known of one region's application tier: how many of its application nodes answer their
/// health check, seen from the monitor, and whether another region's vantage point confirms a loss.
public enum AppTierVerdict: Sendable, Equatable {
    /// At least `min_healthy` nodes answer.
    case serving(healthy: Int, total: Int)
    /// Fewer than `min_healthy` answer the monitor, and the agents named in `corroboratedBy` (in
    /// other regions) see the same: the region cannot serve.
    case down(healthy: Int, total: Int, corroboratedBy: [String])
    /// Fewer than `min_healthy` answer the monitor, but no other vantage point confirms it (yet):
    /// the monitor's own path may be what fails. Never a reason to fail over.
    case uncorroborated(healthy: Int, total: Int, detail: String)

    public var serves: Bool {
        if case .serving = self { return true }
        return false
    }

    public var summary: String {
        switch self {
        case .serving(let healthy, let total):
            return "\(healthy) of \(total) application nodes answer"
        case .down(let healthy, let total, let by):
            return "\(healthy) of \(total) application nodes answer, confirmed by \(by.joined(separator: ", "))"
        case .uncorroborated(let healthy, let total, let detail):
            return "\(healthy) of \(total) application nodes answer the monitor, not confirmed from another region (\(detail))"
        }
    }
}
