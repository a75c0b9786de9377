import Foundation
import LifeboatSandbox
import Testing

@Suite struct AgentCommandTests {
    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-agent-\(UUID()).yml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func validateListsEveryProblemAndExitsOne() async throws {
        let file = try write("node: a\nregion: r\nkey_env: K\nchecks:\n  - {type: tcp, address: nowhere}\n  - {type: http, url: ftp://x}\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await CLI.run(["agent", "--validate", "--config", file], environment: ["K": "k"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(file):5:26: error: checks[0].address: expected host:port such as 127.0.0.1:8080, found 'nowhere'"), "\(result.stderr)")
        #expect(result.stderr.contains("\(file):6:23: error: checks[1].url: expected an http:// or https:// URL, found 'ftp://x'"), "\(result.stderr)")
    }

    @Test func aValidConfigIsSummarised() async throws {
        let file = try write("node: a\nregion: r\nkey_env: K\nchecks:\n  - {type: tcp, address: \"127.0.0.1:5432\"}\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await CLI.run(["agent", "--validate", "--config", file], environment: ["K": "k"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(file): valid: node a in r, 1 checks, fence read-only, no file replication\n")
    }

    @Test func aTakenPortIsAClearError() async throws {
        let port = try FreePort.find()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(holder, 1)
        let file = try write("node: a\nregion: r\nkey_env: K\nlisten: 127.0.0.1:\(port)\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await CLI.run(["agent", "--config", file], environment: ["K": "k"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("lifeboat agent: cannot serve on 127.0.0.1:\(port) (listen in \(file)): address already in use"), "\(result.stderr)")
    }

    @Test func aMissingKeyStopsTheAgentBeforeItListens() async throws {
        let file = try write("node: a\nregion: r\nkey_env: LIFEBOAT_TEST_UNSET_KEY\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await CLI.run(["agent", "--config", file])
        #expect(result.status == 1)
        #expect(result.stderr.contains("agent key: environment variable LIFEBOAT_TEST_UNSET_KEY is not set or empty"), "\(result.stderr)")
    }
}
