import ArgumentParser

@main
struct Lifeboat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifeboat",
        abstract: "Multi-region disaster recovery for PostgreSQL services: detect, fence, promote, prove.",
        discussion: """
            Drill on this machine:   lifeboat drill --sandbox
            Check a config:          lifeboat validate /etc/lifeboat/lifeboat.yml
            On every node:           lifeboat agent --config /etc/lifeboat/agent.yml
            Documentation: docs/ in the source tree: operations.md, configuration.md,
            agent.md, failover.md, dns.md, drills.md.
            """,
        version: "0.1.0",
        subcommands: [Validate.self, Monitor.self, Status.self, Events.self, DoctorCommand.self, Failover.self, Switchover.self, Rejoin.self, Replica.self, Pause.self, Resume.self, AgentCommand.self, Drill.self, DNS.self, FSM.self, DrillClient.self, DrillApp.self]
    )
}
