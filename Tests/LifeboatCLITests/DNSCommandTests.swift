import Foundation
import LifeboatSandbox
import Testing

@Suite(.serialized) struct DNSCommandTests {
    func config(_ knot: KnotServer) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-dns-\(UUID()).yml")
        try """
        regions:
          - name: us-east
          - name: eu-west
        database:
          nodes:
            - {name: pg-a, region: us-east, host: 127.0.0.1}
            - {name: pg-b, region: eu-west, host: 127.0.0.2}
        dns:
          provider: rfc2136
          zone: \(knot.zone)
          record: app
          ttl: 30
          targets:
            us-east: 127.0.0.10
            eu-west: 127.0.0.20
          rfc2136:
            server: 127.0.0.1:\(knot.port)
            key_name: \(knot.keyName)
            key_secret_env: LIFEBOAT_TEST_TSIG
        """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func showAndPointAgainstARealServer() async throws {
        let knot = try KnotServer()
        defer { knot.stop() }
        try await knot.waitUntilServing()
        let file = try config(knot)
        defer { try? FileManager.default.removeItem(at: file) }
        let env = ["LIFEBOAT_TEST_TSIG": knot.keySecret]

        let show = try await CLI.run(["dns", "show", "--config", file.path], environment: env)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.hasPrefix("app.lifeboat.test.  127.0.0.10  TTL 60s  (region us-east; provider RFC 2136 at 127.0.0.1:\(knot.port))"))
        #expect(show.stdout.contains("when eu-west is primary: 127.0.0.20"))

        let dry = try await CLI.run(["dns", "point", "--to", "eu-west", "--dry-run", "--config", file.path], environment: env)
        #expect(dry.stdout == "would point app.lifeboat.test. from 127.0.0.10 to 127.0.0.20 with TTL 30s\n")
        #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.10")

        let point = try await CLI.run(["dns", "point", "--to", "eu-west", "--config", file.path], environment: env)
        #expect(point.status == 0, "\(point.stderr)")
        #expect(point.stdout.hasPrefix("DNS switched: app.lifeboat.test. from 127.0.0.10 to 127.0.0.20, TTL 30s\nDNS verified: 1 authoritative server answers"))
        #expect(point.stdout.hasSuffix("resolvers may keep the old answer for up to 60s (its TTL)\n"))
        #expect(try knot.kdig("app.lifeboat.test", "A") == "127.0.0.20")
        #expect(!(show.stdout + show.stderr + point.stdout + point.stderr).contains(knot.keySecret), "the TSIG secret never prints")
    }

    @Test func clearErrorsForAWrongKeyAnUnknownRegionAndAMissingSecret() async throws {
        let knot = try KnotServer()
        defer { knot.stop() }
        try await knot.waitUntilServing()
        let file = try config(knot)
        defer { try? FileManager.default.removeItem(at: file) }

        let wrong = try await CLI.run(["dns", "point", "--to", "eu-west", "--config", file.path],
                                environment: ["LIFEBOAT_TEST_TSIG": Data(repeating: 1, count: 32).base64EncodedString()])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("dns point: BADSIG: the server rejected our signature; the TSIG secret differs from the server's"))

        let region = try await CLI.run(["dns", "point", "--to", "mars", "--config", file.path], environment: ["LIFEBOAT_TEST_TSIG": knot.keySecret])
        #expect(region.status != 0)
        #expect(region.stderr.contains("unknown region 'mars'; regions with DNS targets: us-east, eu-west"))

        let missing = try await CLI.run(["dns", "show", "--config", file.path], environment: ["LIFEBOAT_TEST_TSIG": ""])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("dns: environment variable LIFEBOAT_TEST_TSIG is not set or empty"))
    }
}
