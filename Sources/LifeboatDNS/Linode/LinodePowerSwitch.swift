import AsyncHTTPClient
import Foundation
import LifeboatConfig
import LifeboatCore
import LifeboatPorts

/// A Linode instance as `GET /linode/instances/{linodeId}` returns it (the fields Lifeboat reads).
public struct LinodeInstance: Decodable, Sendable, Equatable {
    public var id: Int
    public var label: String
    /// `running`, `offline`, `shutting_down`, `booting`, … (Linode's enum).
    public var status: String
}

/// The Linode Instances endpoints hard fencing needs: shut an instance down, read its status.
public struct LinodeInstancesClient: Sendable {
    let transport: LinodeHTTP

    public init(baseURL: String = "https://api.linode.com/v4", token: Secret, http: HTTPClient = .shared, requestTimeout: Duration = .seconds(10),
                maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(250), maxDelay: Duration = .seconds(2)) {
        transport = LinodeHTTP(baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL, token: token, http: http,
                               requestTimeout: requestTimeout, maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: maxDelay)
    }

    /// `GET /linode/instances/{linodeId}`.
    public func instance(_ id: Int) async throws -> LinodeInstance {
        let data = try await transport.send(.GET, "/linode/instances/\(id)", query: [:], filter: nil, body: nil)
        do { return try JSONDecoder().decode(LinodeInstance.self, from: data) } catch {
            throw LinodeAPIError.unexpectedBody("GET instance \(id): \(error)")
        }
    }

    /// `POST /linode/instances/{linodeId}/shutdown` (no body): "Shutdown started."
    public func shutdown(_ id: Int) async throws {
        _ = try await transport.send(.POST, "/linode/instances/\(id)/shutdown", query: [:], filter: nil, body: nil)
    }
}

/// Hard fencing on Linode: the old primary's instance is shut down through the API, and is off when
/// the API reports it `offline`.
public struct LinodePowerSwitch: PowerSwitch {
    let client: LinodeInstancesClient
    /// Database node name -> Linode ID (`linode_id` in the config).
    let instances: [String: Int]
    let pollEvery: Duration

    public init(client: LinodeInstancesClient, instances: [String: Int], pollEvery: Duration = .seconds(1)) {
        self.client = client
        self.instances = instances
        self.pollEvery = pollEvery
    }

    public func covers(_ node: String) -> Bool { instances[node] != nil }

    public func powerOff(_ node: String, wait: Duration) async throws -> PowerOffOutcome {
        guard let id = instances[node] else { return .requested(detail: "not possible: \(node) has no linode_id") }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        // Already off (an earlier attempt, or the region lost power): nothing to ask for.
        if try await client.instance(id).status == "offline" { return .off(detail: "Linode \(id) is offline") }
        try await client.shutdown(id)
        while clock.now < deadline {
            try await clock.sleep(for: min(pollEvery, clock.now.duration(to: deadline)))
            let status = try await client.instance(id).status
            if status == "offline" { return .off(detail: "Linode \(id) shut down through the Linode API, now offline") }
        }
        return .requested(detail: "asked of the Linode API for Linode \(id), not yet offline after \(DurationText.format(wait))")
    }
}
