import Foundation
import LifeboatCore

/// `POST /v1/actions/rejoin`: make this node a streaming standby of `primary` (signed, under the
/// monitor's current epoch).
public struct RejoinOrder: Codable, Sendable, Equatable {
    public var epoch: UInt64
    /// The current primary's node name (its `application_name` is this node's name).
    public var primary: String
    /// Where this node's WAL receiver, pg_rewind and pg_basebackup reach the primary.
    public var host: String
    public var port: Int
    /// A fresh `pg_basebackup` when pg_rewind cannot be used (or always, with `force`).
    public var reinit: Reinit
    /// The physical replication slot on the primary to stream through (`primary_slot_name`); nil
    /// with `replication_slots: {managed: false}`.
    public var slot: String?

    public typealias Reinit = ReinitChoice

    public init(epoch: UInt64, primary: String, host: String, port: Int, reinit: Reinit, slot: String? = nil) {
        self.slot = slot
        self.epoch = epoch
        self.primary = primary
        self.host = host
        self.port = port
        self.reinit = reinit
    }
}

extension RejoinOrder: AgentBody { public static var fields: [String] { ["epoch", "primary", "host", "port", "reinit", "slot"] } }

/// The agent's answer: a report (200) or the step that failed (409, 500).
struct RejoinAnswer: Decodable {
    var report: RejoinReport?
    var failure: RejoinFailure?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let report = try? container.decode(RejoinReport.self) { self.report = report } else {
            failure = try container.decode(RejoinFailure.self)
        }
    }
}

/// `POST /v1/actions/demote` (body: `{"epoch": N}`, a `FenceOrder`): the old primary of a
/// switchover, already fenced, is stopped cleanly (`pg_ctl stop -m fast`: its WAL senders send
/// everything, the shutdown checkpoint included, before it exits), so the candidate promoted after
/// it has replayed `checkpoint` has all of it and the node rejoins without a rewind.
public struct DemoteResult: Codable, Sendable, Equatable {
    /// The shutdown checkpoint's position (`Latest checkpoint location`), where the node's WAL ends.
    public var checkpoint: String
    public var timeline: UInt32?
    public var detail: String

    public init(checkpoint: String, timeline: UInt32?, detail: String) {
        self.checkpoint = checkpoint
        self.timeline = timeline
        self.detail = detail
    }

    public var checkpointLSN: LSN? { LSN(checkpoint) }
}
