#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A /24 of the loopback network (127.A.B.0/24) reserved for one sandbox, so two drills — or a
/// drill next to a test suite — never share an address: each region, the DNS server, the agents
/// and the monitor's API get addresses of their own block. The reservation is an exclusive
/// `flock` on a file per block, held until `release()` (or until the process ends, when the
/// kernel drops it), so it also holds across processes.
public final class LoopbackBlock: Sendable {
    /// `127.A.B`
    public let prefix: String
    private let lock: Lock

    public static let lockDirectory = "/tmp/lifeboat-sandbox-blocks"

    /// An exclusive `flock` on `lockDirectory/NAME.lock`, held until `release()` or the process ends.
    public final class Lock: Sendable {
        private let fd: Mutex<Int32>

        private init(fd: Int32) { self.fd = Mutex(fd) }

        /// Takes the lock named `name`, or nil when another holder has it.
        public static func take(_ name: String) -> Lock? {
            try? FileManager.default.createDirectory(atPath: lockDirectory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o1777])
            let fd = open("\(lockDirectory)/\(name).lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
            guard fd >= 0 else { return nil }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return Lock(fd: fd) }
            close(fd)
            return nil
        }

        public func release() {
            fd.withLock { fd in
                if fd >= 0 { close(fd) }
                fd = -1
            }
        }

        deinit { release() }
    }

    /// Reserves a free block at random (127.16.0.0 to 127.239.255.0: clear of 127.0.0.0/16 and
    /// of the addresses other programs tend to use).
    public static func reserve() throws -> LoopbackBlock {
        for _ in 0..<500 {
            let prefix = "127.\(Int.random(in: 16...239)).\(Int.random(in: 0...255))"
            if let lock = Lock.take(prefix) { return LoopbackBlock(prefix: prefix, lock: lock) }
        }
        throw BlockError(message: "no free loopback block under 127.0.0.0/8 after 500 tries (see \(lockDirectory))")
    }

    private init(prefix: String, lock: Lock) {
        self.prefix = prefix
        self.lock = lock
    }

    /// `127.A.B.host`
    public func address(_ host: Int) -> String { "\(prefix).\(host)" }

    /// Addresses in the block: regions get 1, 2, 3…; the sandbox's shared services take these.
    public var dnsAddress: String { address(250) }
    public var apiAddress: String { address(251) }

    public func release() { lock.release() }

    public struct BlockError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
