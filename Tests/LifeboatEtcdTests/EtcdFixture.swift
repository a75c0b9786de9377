import LifeboatEtcd
import LifeboatSandbox

/// A real one-member etcd on loopback for the body, removed afterwards (installed when missing).
func withEtcd(_ body: (EtcdServer) async throws -> Void) async throws {
    try await EtcdServer.ensureInstalled(install: true, log: { print($0) })
    let server = try EtcdServer()
    defer { server.stop() }
    let client = EtcdClient(endpoints: [server.endpoint])
    try await server.waitUntilServing {
        do { _ = try await client.get("/lifeboat/probe"); return true } catch { return false }
    }
    try await body(server)
}
