import LifeboatCore

/// What a drill measured, for humans (`text`) and machines (JSON).
public struct DrillReport: Codable, Sendable {
    public struct Node: Codable, Sendable {
        public var name: String
        public var region: String
        public var role: String
        public var address: String
    }

    public struct Step: Codable, Sendable {
        /// Seconds after the fault (negative: before it).
        public var at: Double
        public var event: String
        public var detail: String
    }

    public struct Detection: Codable, Sendable {
        public var interval: String
        public var timeout: String
        public var suspectInterval: String
        public var failureThreshold: Int
        public var recoveryThreshold: Int
    }

    public var kind: String
    /// The scenario's name (`kill-primary`, `switchover`).
    public var scenario: String
    public var nodes: [Node]
    public var detection: Detection
    public var fault: String
    public var timeline: [Step]
    /// Fault -> first acknowledged write on the new primary.
    public var rtoSeconds: Double?
    /// Fault -> the engine's failover complete (the new primary accepted its test write).
    public var failoverSeconds: Double?
    /// The traffic switch step: DNS record changed and verified on the authoritative server.
    public var trafficSwitchSeconds: Double?
    /// Acknowledged writes missing on the new primary.
    public var rpoLostWrites: Int
    /// Fault minus the acknowledgement time of the oldest lost write (0 when none was lost).
    public var rpoSeconds: Double
    public var promotions: Int
    public var newPrimary: String?
    public var epoch: UInt64
    public var writesBeforeFault: Int
    public var writesAcknowledged: Int
    public var passed: Bool
    public var problems: [String]
    /// File replication between the regions' agents (nil: the drill ran without agents).
    public var files: FilesReport?
    /// Acknowledged writes missing where the data lives afterwards (the same as `rpoLostWrites`,
    /// under the name other tools check).
    public var ackedWritesLost: Int?
    /// Writes the old primary acknowledged after the promotion began (partition drills; must be 0).
    public var writesAckedByOldPrimaryAfterPromotion: Int?
    /// A partition drill's own figures (nil for the loopback drills).
    public var partition: PartitionFigures?
    /// `--failback`: the old primary rejoined, then a switchover back (nil: not asked).
    public var failback: Failback?
    /// Writers inserting at once, and their acknowledged writes per second before the fault.
    public var writers: Int?
    public var writesPerSecond: Double?
    /// `durability:` as the drill ran (nil: not managed).
    public var durability: String?
    /// `--failback`: what the rejoin of the old primary discarded (its report), under the key tools look for.
    public var rewind: RejoinReport?

    /// Region drills: how the record followed the primary region's application nodes.
    public var region: RegionFigures?

    public struct RegionFigures: Codable, Sendable {
        /// app-node-down: from the kill until the record no longer held the dead node's address.
        public var addressRemovedSeconds: Double?
        /// app-node-down: from the restart until the record held it again.
        public var addressReturnedSeconds: Double?
        public var recordEverEmpty: Bool
        public var dnsAnswersSeen: Int
    }

    public struct Failback: Codable, Sendable {
        /// The old primary asked to rejoin -> it streams from the new primary.
        public var rejoinSeconds: Double?
        public var rejoinMethod: String?
        /// Switchover back asked -> first acknowledged write on the original primary.
        public var switchbackSeconds: Double?
        /// Switchover back asked -> the other node streams from the original primary again.
        public var standbyAgainSeconds: Double?
        /// Writes acknowledged during the switchover back, and how many of them are missing.
        public var writesDuringSwitchback: Int
        public var lostInSwitchback: Int
        /// Where the cluster ended: the primary, and the standbys streaming from it.
        public var endPrimary: String?
        public var endStreaming: [String]
        /// Lifeboat's replication slots in use on the end primary (nil: slots not managed).
        public var endSlots: [String]?
    }

    public struct PartitionFigures: Codable, Sendable {
        public struct Client: Codable, Sendable {
            public var region: String
            public var acknowledged: Int
            public var afterFault: Int
        }

        public var leaseTTL: String
        public var writesAckedByOldPrimaryAfterPromotion: Int
        public var ackedWritesLost: Int
        /// Polls (every 100 ms, over each server's unix socket) that found two servers taking writes.
        public var twoWritablePolls: Int
        public var writabilityPolls: Int
        /// The longest pause between the primary region client's acknowledged writes from the
        /// fault until the network healed (a fenced or cut-off primary shows here).
        public var longestPrimaryRegionWriteGapSeconds: Double
        public var clients: [Client]
    }

    public struct FilesReport: Codable, Sendable {
        public struct Transfer: Codable, Sendable {
            public var file: String
            public var from: String
            public var to: String
            public var epoch: UInt64
            /// Written -> present (whole) in the other region; nil: it never arrived.
            public var seconds: Double?
        }

        public var interval: String
        public var beforeFault: [Transfer]
        public var afterFailover: [Transfer]
    }

    public var text: String {
        var lines: [String] = []
        lines.append("Lifeboat \(kind)")
        for node in nodes {
            lines.append("  \(node.region.padding(8))  \(node.name.padding(12))  \(node.role.padding(8))  \(node.address)")
        }
        lines.append("Detection: probe every \(detection.interval), timeout \(detection.timeout), re-probe a failing node every \(detection.suspectInterval), down after \(detection.failureThreshold) failed probes")
        let who = (writers ?? 1) == 1 ? "one writer" : "\(writers ?? 1) writers"
        lines.append("Workload: \(who) inserting numbered rows; \(writesBeforeFault) writes acknowledged before the fault, \(writesAcknowledged) in all"
                     + (writesPerSecond.map { " (\(Int($0.rounded())) writes/s before the fault)" } ?? ""))
        if let durability { lines.append("Durability: \(durability) (synchronous_standby_names kept by the monitor)") }
        lines.append("")
        lines.append("Timeline (seconds from the fault)")
        for step in timeline {
            let sign = step.at < 0 ? "-" : "+"
            let stamp = sign + String(format3(abs(step.at))) + "s"
            lines.append("  \(stamp.padding(9)) \(step.event.padding(9)) \(step.detail)")
        }
        lines.append("")
        lines.append("Result")
        if let region, scenario == "app-node-down" {
            lines.append("  DNS  " + (region.addressRemovedSeconds.map { "the dead node's address left the record \(format3($0))s after the kill" } ?? "the dead node's address did NOT leave the record"))
            lines.append("       " + (region.addressReturnedSeconds.map { "it was back \(format3($0))s after the node was restarted" } ?? "it did NOT come back"))
        } else if let rto = rtoSeconds {
            lines.append("  RTO  \(format3(rto))s  (fault -> first acknowledged write on \(newPrimary ?? "the new primary"))")
        } else {
            lines.append("  RTO  not reached: no write was acknowledged by a new primary")
        }
        if let failover = failoverSeconds {
            lines.append("       \(format3(failover))s  fault -> failover complete (new primary writable, as the monitor saw it)")
        }
        if let traffic = trafficSwitchSeconds {
            lines.append("       \(format3(traffic))s  DNS switch + verification")
        }
        lines.append("  RPO  \(rpoLostWrites) acknowledged write\(rpoLostWrites == 1 ? "" : "s") lost (\(format3(rpoSeconds))s of writes)")
        lines.append("  promotions: \(promotions), epoch now \(epoch)")
        if let region {
            lines.append("  record answers seen (every 50ms): \(region.dnsAnswersSeen), " + (region.recordEverEmpty ? "the record WAS empty at some point" : "never empty"))
        }
        if let partition {
            lines.append("  writes acknowledged by the old primary after the promotion began: \(partition.writesAckedByOldPrimaryAfterPromotion)")
            lines.append("  polls finding two servers taking writes: \(partition.twoWritablePolls) of \(partition.writabilityPolls)")
            lines.append("  longest pause in the primary region's writes until the network healed: \(format3(partition.longestPrimaryRegionWriteGapSeconds))s (lease \(partition.leaseTTL))")
            for client in partition.clients {
                lines.append("  client \(client.region): \(client.acknowledged) writes acknowledged, \(client.afterFault) after the fault")
            }
        }
        if let files {
            lines.append("  Files (each region's agent pulls uploads/ from the primary region with rsync every \(files.interval))")
            for (when, transfers) in [("before the fault", files.beforeFault), ("after the failover", files.afterFailover)] {
                for t in transfers {
                    let took = t.seconds.map { "arrived after \(format3($0))s" } ?? "did NOT arrive"
                    lines.append("       \(when): \(t.file) written in \(t.from), \(took) in \(t.to) (epoch \(t.epoch))")
                }
            }
        }
        if let failback {
            lines.append("  Failback")
            lines.append("       rejoin of the old primary (\(failback.rejoinMethod ?? "not done")): " + (failback.rejoinSeconds.map { "\(format3($0))s until it streamed" } ?? "did NOT stream"))
            if let d = rewind?.discarded {
                lines.append("       rewind discarded WAL \(d.from)–\(d.to) (\(d.bytes) bytes, " + (d.transactions.map { "\($0) transaction(s)" } ?? "not counted") + ") after the fork at \(d.forkLSN)")
            }
            lines.append("       switchover back: " + (failback.switchbackSeconds.map { "first write on the original primary after \(format3($0))s" } ?? "NOT completed")
                         + ", \(failback.lostInSwitchback) of \(failback.writesDuringSwitchback) acknowledged writes lost")
            lines.append("       other node streaming again: " + (failback.standbyAgainSeconds.map { "after \(format3($0))s" } ?? "NOT streaming"))
            lines.append("       ends with primary \(failback.endPrimary ?? "none"), streaming: \(failback.endStreaming.isEmpty ? "none" : failback.endStreaming.joined(separator: ", "))"
                         + (failback.endSlots.map { ", through slot(s) \($0.isEmpty ? "none" : $0.joined(separator: ", "))" } ?? ""))
        }
        lines.append(passed ? "  drill passed" : "  drill FAILED: \(problems.joined(separator: "; "))")
        return lines.joined(separator: "\n")
    }
}

func format3(_ value: Double) -> String {
    let scaled = Int((value * 1000).rounded())
    let frac = String(scaled % 1000)
    return "\(scaled / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

extension DrillReport {
    /// A staging drill's report: a planned switchover to another region and back on a real
    /// deployment, timed from the operator's request (`lifeboat drill --staging`).
    public static func staging(cluster: String, nodes: [(name: String, region: String, role: String, address: String)], detection: DetectionSettings,
                               timeline: [(at: Double, event: String, detail: String)], toOther: Double?, failover: Double?,
                               epoch: UInt64, newPrimary: String?, promotions: Int, failback: Failback?, problems: [String]) -> DrillReport {
        DrillReport(
            kind: "staging drill on cluster \(cluster): a planned switchover to another region and back, through the running monitor",
            scenario: "staging-switchover",
            nodes: nodes.map { Node(name: $0.name, region: $0.region, role: $0.role, address: $0.address) },
            detection: Detection(interval: DurationText.format(detection.interval), timeout: DurationText.format(detection.timeout),
                                 suspectInterval: DurationText.format(detection.suspectInterval),
                                 failureThreshold: detection.failureThreshold, recoveryThreshold: detection.recoveryThreshold),
            fault: "planned switchover asked of the monitor (no fault injected)",
            timeline: timeline.map { Step(at: $0.at, event: $0.event, detail: $0.detail) },
            rtoSeconds: toOther, failoverSeconds: failover, trafficSwitchSeconds: nil, rpoLostWrites: 0, rpoSeconds: 0,
            promotions: promotions, newPrimary: newPrimary, epoch: epoch, writesBeforeFault: 0, writesAcknowledged: 0,
            passed: problems.isEmpty, problems: problems, failback: failback
        )
    }

    public static func failback(rejoinSeconds: Double?, switchbackSeconds: Double?, standbyAgainSeconds: Double?, endPrimary: String?, endStreaming: [String]) -> Failback {
        Failback(rejoinSeconds: rejoinSeconds, rejoinMethod: nil, switchbackSeconds: switchbackSeconds, standbyAgainSeconds: standbyAgainSeconds,
                 writesDuringSwitchback: 0, lostInSwitchback: 0, endPrimary: endPrimary, endStreaming: endStreaming)
    }
}
