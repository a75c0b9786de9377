import Foundation
import LifeboatCore
import LifeboatEtcd
import LifeboatPorts
import LifeboatSandbox
import Testing

/// The epoch in a real etcd: compare-and-swap by transaction, so racing monitors never both win.
@Suite(.serialized) struct EtcdEpochStoreTests {
    @Test func theEpochChangesOnlyByCompareAndSwap() async throws {
        try await withEtcd { server in
            let a = EtcdEpochStore(client: EtcdClient(endpoints: [server.endpoint]), cluster: "shop")
            let b = EtcdEpochStore(client: EtcdClient(endpoints: ["http://127.0.0.1:1", server.endpoint]), cluster: "shop")
            #expect(try await a.load() == .initial)
            try await a.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-a")
            #expect(try await b.load() == EpochRecord(epoch: Epoch(1), owner: "monitor-a"), "read through the second endpoint")
            // Storing again what is stored, for the same owner: a resumed failover.
            try await a.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-a")
            // Another monitor that still believes epoch 0: refused, told what is stored.
            await #expect(throws: EpochConflict(expected: .initial, attempted: Epoch(1), stored: EpochRecord(epoch: Epoch(1), owner: "monitor-a"))) {
                try await b.compareAndSwap(expected: .initial, new: Epoch(1), owner: "monitor-b")
            }
            // Another cluster's key is its own.
            let other = EtcdEpochStore(client: EtcdClient(endpoints: [server.endpoint]), cluster: "blog")
            #expect(try await other.load() == .initial)
        }
    }

    @Test func ofTwoMonitorsRacingForTheNextEpochExactlyOneWins() async throws {
        try await withEtcd { server in
            let client = EtcdClient(endpoints: [server.endpoint])
            for round in 0..<20 {
                let expected = Epoch(UInt64(round))
                async let first: Bool = (try? await EtcdEpochStore(client: client, cluster: "race")
                    .compareAndSwap(expected: expected, new: Epoch(UInt64(round + 1)), owner: "monitor-a")) != nil
                async let second: Bool = (try? await EtcdEpochStore(client: client, cluster: "race")
                    .compareAndSwap(expected: expected, new: Epoch(UInt64(round + 1)), owner: "monitor-b")) != nil
                let wins = [await first, await second].filter { $0 }.count
                #expect(wins == 1, "round \(round): \(wins) monitors stored epoch \(round + 1)")
                let stored = try await EtcdEpochStore(client: client, cluster: "race").load()
                #expect(stored.epoch == Epoch(UInt64(round + 1)))
            }
        }
    }

    @Test func aKeyThatIsNotAnEpochRecordIsNeverOverwritten() async throws {
        try await withEtcd { server in
            let client = EtcdClient(endpoints: [server.endpoint])
            let put = try await client.putIf("/lifeboat/odd/epoch", modRevision: 0, value: Data("not json".utf8))
            #expect(put)
            let store = EtcdEpochStore(client: client, cluster: "odd")
            await #expect(throws: EtcdClient.Failure.self) { try await store.compareAndSwap(expected: .initial, new: Epoch(1), owner: "m") }
            let kept = try await client.get("/lifeboat/odd/epoch")
            #expect(kept?.value == Data("not json".utf8))
        }
    }
}
