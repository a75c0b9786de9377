import LifeboatCore
import LifeboatTestSupport
import Testing

@Suite struct LSNTests {
    @Test func parsesAndPrintsPostgresForm() {
        let lsn = LSN("16/B374D848")
        #expect(lsn?.value == 0x16_B374_D848)
        #expect(lsn?.description == "16/B374D848")
        #expect(LSN("0/0") == LSN(0))
    }

    @Test func rejectsMalformed() {
        #expect(LSN("16B374D848") == nil)
        #expect(LSN("/1") == nil)
        #expect(LSN("G/1") == nil)
        #expect(LSN("1/100000000") == nil)
    }

    @Test func bytesAfterSaturatesAtZero() {
        #expect(LSN(100).bytes(after: LSN(40)) == 60)
        #expect(LSN(40).bytes(after: LSN(100)) == 0)
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("1.5s", .milliseconds(1500)),
        ("10m", .seconds(600)), ("1h", .seconds(3600)), ("1m30s", .seconds(90)), (" 3s ", .seconds(3)),
    ])
    func parses(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: ["5x", "", "s", "10", "-1s", "1.2.3s", "5 s"])
    func rejects(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func formats() {
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.milliseconds(1500)) == "1.5s")
        #expect(DurationText.format(.seconds(90)) == "1m30s")
        #expect(DurationText.format(.seconds(600)) == "10m")
    }
}

@Suite struct NodeHealthTests {
    let settings = DetectionSettings(failureThreshold: 3, recoveryThreshold: 2)

    @Test func firstGoodProbeMakesANodeHealthy() {
        var health = NodeHealth<Instant>()
        #expect(health.verdict == .unknown)
        #expect(health.record(primary(), at: Instant(offset: .zero), settings: settings) == .healthy)
    }

    @Test func failuresBelowThresholdKeepTheVerdict() {
        var health = NodeHealth<Instant>()
        _ = health.record(primary(), at: Instant(offset: .zero), settings: settings)
        #expect(health.record(down, at: Instant(offset: .seconds(1)), settings: settings) == nil)
        #expect(health.record(down, at: Instant(offset: .seconds(2)), settings: settings) == nil)
        #expect(health.verdict == .healthy)
        #expect(health.isSuspect)
        #expect(health.record(down, at: Instant(offset: .seconds(3)), settings: settings) == .unhealthy)
        #expect(!health.isSuspect)
        #expect(health.lastStatus != nil, "the last good status is kept while the node is down")
        #expect(health.currentStatus == nil)
    }

    @Test func recoveryNeedsTheRecoveryThreshold() {
        var health = NodeHealth<Instant>()
        for i in 0..<3 { _ = health.record(down, at: Instant(offset: .seconds(Int64(i))), settings: settings) }
        #expect(health.verdict == .unhealthy)
        #expect(health.record(primary(), at: Instant(offset: .seconds(4)), settings: settings) == nil)
        #expect(health.record(down, at: Instant(offset: .seconds(5)), settings: settings) == nil)
        #expect(health.record(primary(), at: Instant(offset: .seconds(6)), settings: settings) == nil)
        #expect(health.record(primary(), at: Instant(offset: .seconds(7)), settings: settings) == .healthy)
    }
}

@Suite struct DurabilityPolicyTests {
    @Test func theSettingFollowsTheModeAndTheStandbysThatStream() {
        let sync = DurabilityPolicy(mode: .sync, whenShort: .wait)
        #expect(sync.synchronousStandbyNames(databaseNodes: 2, streaming: 1) == ("ANY 1 (*)", false))
        #expect(sync.synchronousStandbyNames(databaseNodes: 2, streaming: 0) == ("ANY 1 (*)", true), "wait: commits wait, never unprotected")
        let degrading = DurabilityPolicy(mode: .sync, whenShort: .async)
        #expect(degrading.synchronousStandbyNames(databaseNodes: 2, streaming: 0) == ("", true))
        #expect(degrading.synchronousStandbyNames(databaseNodes: 3, streaming: 2) == ("ANY 1 (*)", false))
        let quorum = DurabilityPolicy(mode: .quorum, whenShort: .async)
        #expect(quorum.required(databaseNodes: 2) == 1 && quorum.required(databaseNodes: 3) == 1 && quorum.required(databaseNodes: 5) == 2)
        #expect(quorum.synchronousStandbyNames(databaseNodes: 5, streaming: 4) == ("ANY 2 (*)", false))
        #expect(quorum.synchronousStandbyNames(databaseNodes: 5, streaming: 1) == ("ANY 1 (*)", true))
        #expect(DurabilityPolicy(mode: .quorum).synchronousStandbyNames(databaseNodes: 5, streaming: 1) == ("ANY 2 (*)", true))
        #expect(DurabilityPolicy(mode: .async).synchronousStandbyNames(databaseNodes: 3, streaming: 0) == ("", false))
    }
}

@Suite struct ReplicationSlotsTests {
    @Test func slotNamesArePostgresSlotNames() {
        #expect(ReplicationSlots.name(for: "pg-eu-west") == "lifeboat_pg_eu_west")
        #expect(ReplicationSlots.name(for: "DB.1") == "lifeboat_db_1")
        let long = String(repeating: "a", count: 60) + "-x"
        let name = ReplicationSlots.name(for: long)
        #expect(name.count <= 63)
        #expect(name.hasPrefix("lifeboat_" + String(repeating: "a", count: 45) + "_"))
        #expect(name != ReplicationSlots.name(for: String(repeating: "a", count: 60) + "-y"), "the hash tells long names apart")
        for node in ["pg-a", "PG.b", long, "0"] {
            let slot = ReplicationSlots.name(for: node)
            #expect(slot.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }, "\(slot)")
        }
        #expect(ReplicationSlots.collisions(["pg-a", "pg_a", "pg-b", "PG-A"]) == [["PG-A", "pg-a", "pg_a"]])
        #expect(ReplicationSlots.collisions(["pg-a", "pg-b"]).isEmpty)
    }

    @Test func planKeepsOneSlotPerOtherNodeAndLeavesForeignSlotsAlone() {
        let nodes = ["pg-a", "pg-b", "pg-c"]
        // pg-b's slot exists; pg-c's does not; the primary's own (from an earlier term) and a removed
        // node's are dropped unless a walsender uses them; other slots are not Lifeboat's.
        let existing = [
            ReplicationSlot(name: "lifeboat_pg_b", active: true),
            ReplicationSlot(name: "lifeboat_pg_a", active: false),
            ReplicationSlot(name: "lifeboat_pg_gone", active: false),
            ReplicationSlot(name: "lifeboat_pg_busy", active: true),
            ReplicationSlot(name: "lifeboat_pg_tmp", temporary: true, active: false),
            ReplicationSlot(name: "lifeboat_cdc", physical: false, active: false),
            ReplicationSlot(name: "barman", active: false),
        ]
        let plan = ReplicationSlots.plan(primary: "pg-a", nodes: nodes, existing: existing)
        #expect(plan.create == ["lifeboat_pg_c"])
        #expect(plan.drop == ["lifeboat_pg_a", "lifeboat_pg_gone"])
        #expect(plan.busy == ["lifeboat_pg_busy"])
        let settled = ReplicationSlots.plan(primary: "pg-a", nodes: ["pg-a", "pg-b"], existing: [ReplicationSlot(name: "lifeboat_pg_b", active: false)])
        #expect(settled.isEmpty && settled.busy.isEmpty)
    }

    @Test func byteCountsForPeople() {
        #expect(ByteCount(800).description == "800 B")
        #expect(ByteCount(1024).description == "1.0 KiB")
        #expect(ByteCount(1536).description == "1.5 KiB")
        #expect(ByteCount(16 << 20).description == "16.0 MiB")
        #expect(ByteCount((1 << 30) - 1).description == "1024.0 MiB")
        #expect(ByteCount(UInt64.max).description.hasSuffix("PiB"))
    }
}
