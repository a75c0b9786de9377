import LifeboatPostgres
import Testing

@Suite struct ConnInfoTests {
    @Test func parsesPgBasebackupOutput() throws {
        let text = "user=postgres passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=127.0.0.1 port=5432 sslmode=prefer"
        let info = try ConnInfo(parsing: text)
        #expect(info["host"] == "127.0.0.1")
        #expect(info["passfile"] == "/var/lib/postgresql/.pgpass")
        #expect(info.pairs.count == 6)
    }

    @Test func quotingRoundTrips() throws {
        var info = try ConnInfo(parsing: #"password='it\'s a \\secret' host = db1"#)
        #expect(info["password"] == #"it's a \secret"#)
        #expect(info["host"] == "db1")
        info["host"] = "db2"
        #expect(try ConnInfo(parsing: info.text) == info)
        #expect(!info.redacted.contains("secret"))
        #expect(info.redacted.contains("password='********'"))
    }

    @Test func rejectsGarbage() {
        #expect(throws: ConnInfoError.self) { try ConnInfo(parsing: "host") }
        #expect(throws: ConnInfoError.self) { try ConnInfo(parsing: "host='db1") }
    }
}
