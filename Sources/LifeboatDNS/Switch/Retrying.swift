/// The retry loop the providers' HTTP clients share: exponential backoff with jitter, waiting at
/// least what the server asked for (`Retry-After`), up to `maxAttempts`. The caller's attempt says
/// whether it succeeded, may be retried (and why), or throws to stop at once.
struct Retrying: Sendable {
    enum Outcome<T> {
        case success(T)
        case retry(String, after: Duration?)
    }

    var maxAttempts: Int
    var baseDelay: Duration
    var maxDelay: Duration

    func run<T>(_ attempt: () async throws -> Outcome<T>, exhausted: (_ attempts: Int, _ last: String) -> any Error) async throws -> T {
        var last = "not tried"
        for number in 1...max(1, maxAttempts) {
            let after: Duration?
            switch try await attempt() {
            case .success(let value): return value
            case .retry(let problem, let wait):
                last = problem
                after = wait
            }
            guard number < maxAttempts else { break }
            let backoff = min(maxDelay, baseDelay * (1 << (number - 1)))
            try await Task.sleep(for: max(backoff * Double.random(in: 0.5...1.0), after ?? .zero))
        }
        throw exhausted(maxAttempts, last)
    }
}
