#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// The outcome of one health check.
public struct CheckResult: Sendable, Equatable {
    public var ok: Bool
    public var duration: Duration
    public var error: String?
}

/// One application health check: HTTP(S) GET or TCP connect.
public protocol HealthCheck: Sendable {
    var target: String { get }
    func check(timeout: Duration) async -> CheckResult
}

/// `GET` of a health endpoint (never HEAD, which many app servers do not answer): healthy on a
/// 2xx status and, when set, a body containing `expectBody`.
public struct HTTPHealthCheck: HealthCheck {
    public var url: String
    public var expectBody: String?
    public var http: HTTPClient

    /// Health checks' own client: a refused connection fails the check at once (AsyncHTTPClient
    /// would otherwise retry establishing it until the check's timeout, so a dead node would take
    /// a whole timeout per check to be seen). Lives as long as the process.
    public static let checking: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
    }()

    public init(url: String, expectBody: String? = nil, http: HTTPClient = HTTPHealthCheck.checking) {
        self.url = url
        self.expectBody = expectBody
        self.http = http
    }

    public var target: String { url }

    public func check(timeout: Duration) async -> CheckResult {
        let clock = ContinuousClock()
        let start = clock.now
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "lifeboat-monitor")
        do {
            let response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
            let body = try await response.body.collect(upTo: 1 << 20)
            let took = start.duration(to: clock.now)
            let status = Int(response.status.code)
            guard (200..<300).contains(status) else { return CheckResult(ok: false, duration: took, error: "HTTP \(status)") }
            if let expectBody, !String(buffer: body).contains(expectBody) {
                return CheckResult(ok: false, duration: took, error: "body does not contain '\(expectBody)'")
            }
            return CheckResult(ok: true, duration: took, error: nil)
        } catch {
            let took = start.duration(to: clock.now)
            let text = took >= timeout ? "no answer within \(timeout)" : "\(error)"
            return CheckResult(ok: false, duration: took, error: String(text.prefix(200)))
        }
    }
}

/// A TCP connect to the application's port.
public struct TCPHealthCheck: HealthCheck {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var target: String { "tcp://\(host):\(port)" }

    public func check(timeout: Duration) async -> CheckResult {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(timeout.milliseconds))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return CheckResult(ok: true, duration: start.duration(to: clock.now), error: nil)
        } catch {
            return CheckResult(ok: false, duration: start.duration(to: clock.now), error: String(Self.reason(error).prefix(200)))
        }
    }

    /// Why a connect failed, read off the error's type and errno.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let connect as NIOConnectionError:
            if let first = connect.connectionErrors.first { return reason(first.error) }
            if let dns = connect.dnsAError ?? connect.dnsAAAAError { return "cannot resolve \(connect.host): \(dns)" }
            return "cannot connect to \(connect.host):\(connect.port)"
        case let channel as ChannelError:
            if case .connectTimeout = channel { return "connect timed out" }
            return "\(channel)"
        case let io as IOError:
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ETIMEDOUT: return "connect timed out"
            case EHOSTUNREACH: return "no route to host"
            case ENETUNREACH: return "network unreachable"
            default: return "\(io)"
            }
        default:
            return "\(error)"
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
