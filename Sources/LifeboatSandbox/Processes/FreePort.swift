#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Foundation
import Synchronization

/// Free TCP ports on loopback for sandbox servers.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`), so a port handed
/// out here is never taken meanwhile by an outgoing connection's source port or another
/// program's bind to port 0; and never twice in one process, so tests running in parallel do
/// not race each other for it.
public enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port that is free on every one of `addresses` (all in 127.0.0.0/8).
    public static func find(bindableOn addresses: [String]) throws -> Int {
        let (low, high) = range()
        for _ in 0..<200 {
            let port = Int.random(in: low...high)
            // TCP on every address, and UDP too (the sandbox's DNS server listens on both).
            guard (["127.0.0.1"] + addresses).allSatisfy({ canBind($0, port) && canBind($0, port, type: SOCK_DGRAM) }) else { continue }
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw PortError()
    }

    public static func find() throws -> Int { try find(bindableOn: []) }

    /// 10000 up to just below the ephemeral range (32768 on Linux by default).
    static func range() -> (Int, Int) {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let ephemeralLow = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
        return ephemeralLow > 11000 ? (10000, ephemeralLow - 1) : (61000, 65535)
    }

    static func canBind(_ host: String, _ port: Int, type: __socket_type = SOCK_STREAM) -> Bool {
        let fd = socket(AF_INET, Int32(type.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    public struct PortError: Error, CustomStringConvertible {
        public var description: String { "could not find a free TCP port on 127.0.0.1" }
    }
}
