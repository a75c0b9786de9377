#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LifeboatCore
import LifeboatPorts
import NIOCore
import NIOPosix
import PostgresNIO

/// A PostgreSQL failure in words an operator can act on, naming the node and the operation, with
/// its kind for the core (`ClassifiedFailure`).
public struct PostgresNodeError: ClassifiedFailure, Sendable {
    public var node: String
    public var operation: String
    public var reason: String
    public var kind: ProbeFailure.Kind = .failed

    public init(node: String, operation: String, reason: String, kind: ProbeFailure.Kind = .failed) {
        self.node = node
        self.operation = operation
        self.reason = reason
        self.kind = kind
    }

    public var description: String { "\(node): \(operation): \(reason)" }

    public var failureKind: StepError.Kind {
        switch kind {
        case .refused, .unreachable: return .unreachable
        case .timedOut, .rejected, .failed: return .failed
        }
    }

    static func wrap(_ error: any Error, node: String, operation: String) -> PostgresNodeError {
        if let own = error as? PostgresNodeError { return own }
        let failure = classify(error)
        return PostgresNodeError(node: node, operation: operation, reason: failure.detail, kind: failure.kind)
    }

    /// What went wrong, read off the error's type, SQLSTATE and errno, never off its text.
    /// postgres-nio hides server messages from `description` to avoid leaking data; the server's
    /// message and SQLSTATE are pulled back out for the operator.
    public static func classify(_ error: any Error) -> ProbeFailure {
        switch error {
        case let own as PostgresNodeError:
            return ProbeFailure(own.kind, own.reason)
        case let timeout as TimeoutError:
            return ProbeFailure(.timedOut, timeout.description)
        case let psql as PSQLError:
            if let info = psql.serverInfo, let message = info[.message] {
                let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return ProbeFailure(.rejected, "server said: \(message)\(state)")
            }
            if let underlying = psql.underlying {
                let inner = classify(underlying)
                if inner.kind != .failed { return inner }
                return ProbeFailure(.failed, "\(psql.code): \(inner.detail)")
            }
            switch psql.code {
            case .serverClosedConnection, .uncleanShutdown: return ProbeFailure(.failed, "the server closed the connection")
            case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError, .sslUnsupported:
                return ProbeFailure(.rejected, "\(psql.code)")
            default: return ProbeFailure(.failed, "\(psql.code)")
            }
        case let connect as NIOConnectionError:
            // Every address tried failed; the first one's reason speaks for them.
            if let first = connect.connectionErrors.first { return classify(first.error) }
            if let dns = connect.dnsAError ?? connect.dnsAAAAError { return ProbeFailure(.unreachable, "cannot resolve \(connect.host): \(dns)") }
            return ProbeFailure(.unreachable, "cannot connect to \(connect.host):\(connect.port)")
        case let channel as ChannelError:
            if case .connectTimeout = channel { return ProbeFailure(.timedOut, "connect timed out") }
            return ProbeFailure(.failed, "\(channel)")
        case let io as IOError:
            return classify(errno: io.errnoCode) ?? ProbeFailure(.failed, "\(io)")
        default:
            return ProbeFailure(.failed, "\(error)")
        }
    }

    static func classify(errno code: CInt) -> ProbeFailure? {
        switch code {
        case ECONNREFUSED: return ProbeFailure(.refused, "connection refused")
        case ETIMEDOUT: return ProbeFailure(.timedOut, "connect timed out")
        case EHOSTUNREACH: return ProbeFailure(.unreachable, "no route to host")
        case ENETUNREACH: return ProbeFailure(.unreachable, "network unreachable")
        case EHOSTDOWN: return ProbeFailure(.unreachable, "host is down")
        case ECONNRESET: return ProbeFailure(.failed, "connection reset by peer")
        default: return nil
        }
    }
}
