import Foundation

/// The agent's small state files (the epoch it follows, the replication order): written to a
/// temporary file, synced and renamed, so a crash never leaves half a file.
enum StateFile {
    static func write<T: Encodable>(_ value: T, to file: String, what: String) throws {
        let directory = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = file + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: try JSONEncoder().encode(value), attributes: [.posixPermissions: 0o600]) else {
            throw AgentError("\(temporary): cannot write \(what)")
        }
        let fd = open(temporary, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(temporary, file) == 0 else { throw AgentError("\(file): cannot replace \(what): \(String(cString: strerror(errno)))") }
    }
}
