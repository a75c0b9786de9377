import LifeboatCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An authoritative DNS server's address: an IPv4 literal and a port.
public struct DNSServer: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int = 53) {
        self.host = host
        self.port = port
    }

    /// `192.0.2.53`, `192.0.2.53:5353` or `localhost:5353`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":")
        guard (1...2).contains(parts.count) else { return nil }
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        guard IPv4(host) != nil else { return nil }
        let port = parts.count == 2 ? Int(parts[1]) : 53
        guard let port, (1...65535).contains(port) else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}

public enum DNSTransportError: Error, Equatable, CustomStringConvertible {
    case timeout(DNSServer, Duration)
    case socket(DNSServer, String)
    case mismatchedAnswer(DNSServer)

    public var description: String {
        switch self {
        case .timeout(let server, let after): return "no answer from \(server) within \(after)"
        case .socket(let server, let why): return "\(server): \(why)"
        case .mismatchedAnswer(let server): return "\(server) answered a different question"
        }
    }
}

/// Sends one DNS message and returns the answer's bytes. Plain blocking sockets on their own
/// thread: a handful of exchanges per failover does not justify an event loop.
enum DNSTransport {
    static func exchange(_ bytes: [UInt8], id: UInt16, server: DNSServer, tcp: Bool, timeout: Duration) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try blockingExchange(bytes, id: id, server: server, tcp: tcp, timeout: timeout) })
            }
        }
    }

    private static func blockingExchange(_ bytes: [UInt8], id: UInt16, server: DNSServer, tcp: Bool, timeout: Duration) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw DNSTransportError.socket(server, errnoText()) }
        defer { close(fd) }
        let micros = max(1000, timeout.components.seconds * 1_000_000 + timeout.components.attoseconds / 1_000_000_000_000)
        var tv = timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(server.port).bigEndian)
        address.sin_addr.s_addr = inet_addr(server.host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            if errno == EINPROGRESS || errno == EAGAIN { throw DNSTransportError.timeout(server, timeout) }
            throw DNSTransportError.socket(server, errnoText())
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        if tcp {
            var framed: [UInt8] = []
            framed.appendUInt16(UInt16(bytes.count))
            framed += bytes
            try sendAll(fd, framed, server)
            let length = try readExactly(fd, 2, server, timeout)
            return try readExactly(fd, Int(length[0]) << 8 | Int(length[1]), server, timeout)
        }
        try sendAll(fd, bytes, server)
        var buffer = [UInt8](repeating: 0, count: 65535)
        while ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw DNSTransportError.timeout(server, timeout) }
                throw DNSTransportError.socket(server, errnoText())
            }
            // Ignore stray datagrams that answer something else.
            if n >= 2, UInt16(buffer[0]) << 8 | UInt16(buffer[1]) == id { return Array(buffer[0..<n]) }
        }
        throw DNSTransportError.timeout(server, timeout)
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8], _ server: DNSServer) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw DNSTransportError.socket(server, errnoText()) }
            sent += n
        }
    }

    private static func readExactly(_ fd: Int32, _ count: Int, _ server: DNSServer, _ timeout: Duration) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n == 0 { throw DNSTransportError.socket(server, "connection closed mid-answer") }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw DNSTransportError.timeout(server, timeout) }
                throw DNSTransportError.socket(server, errnoText())
            }
            got += n
        }
        return out
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
