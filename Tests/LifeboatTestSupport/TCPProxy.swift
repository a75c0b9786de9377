import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP forwarder a test can cut and restore: stands in for the network path between
/// the monitor and one node, so a test can break that path while the node itself stays up.
public final class TCPProxy: @unchecked Sendable {
    public let port: Int
    private let target: Int
    private let targetHost: String
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var connections: [Int32] = []
    private var cut = false
    private var silent = false
    private var held: [Int32] = []

    public init(port: Int, forwardingTo targetHost: String = "127.0.0.1", port target: Int) throws {
        self.port = port
        self.target = target
        self.targetHost = targetHost
        try listen()
    }

    /// Drops every open connection and refuses new ones, like a broken network path.
    public func cutPath() {
        lock.lock()
        defer { lock.unlock() }
        cut = true
        if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)); close(listener); listener = -1 }
        for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
        connections.removeAll()
    }

    /// Like a region whose packets are dropped: open connections are dropped, and new ones are
    /// accepted but never answered, so a client waits for its own timeout.
    public func blackHole() {
        lock.lock()
        silent = true
        for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
        connections.removeAll()
        lock.unlock()
    }

    /// Listens again on the same port. The old listener's socket can outlive `close` for a moment
    /// (the accept thread still holds it), so binding is tried until it works, for up to 2 s.
    public func restorePath() throws {
        lock.lock()
        cut = false
        lock.unlock()
        var lastError: (any Error)?
        for _ in 0..<100 {
            do { return try listen() } catch { lastError = error }
            usleep(20_000)
        }
        throw lastError!
    }

    deinit {
        cutPath()
        for fd in held { close(fd) }
    }

    private func listen() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.address(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw ProxyError(message: "cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        lock.lock()
        listener = fd
        lock.unlock()
        Thread.detachNewThread { [weak self] in self?.acceptLoop(fd) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            lock.lock()
            if silent {
                held.append(client)
                lock.unlock()
                continue
            }
            lock.unlock()
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.address(target, host: targetHost)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            lock.lock()
            let isCut = cut
            if !isCut { connections += [client, upstream] }
            lock.unlock()
            guard connected == 0, !isCut else {
                close(client)
                close(upstream)
                continue
            }
            Thread.detachNewThread { Self.pump(from: client, to: upstream) }
            Thread.detachNewThread { Self.pump(from: upstream, to: client) }
        }
    }

    private static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(source, &buffer, buffer.count)
            if n <= 0 { break }
            var sent = 0
            while sent < n {
                let w = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + sent, n - sent) }
                if w <= 0 { break }
                sent += w
            }
            if sent < n { break }
        }
        shutdown(destination, Int32(SHUT_RDWR))
        shutdown(source, Int32(SHUT_RDWR))
    }

    private static func address(_ port: Int, host: String = "127.0.0.1") -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return address
    }

    public struct ProxyError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
