import ArgumentParser

@main
struct Lifeboat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifeboat",
        abstract: "Multi-region disaster recovery for PostgreSQL services: detect, fence, promote, prove.",
        discussion: """
            Start with a drill on this machine:   lifeboat drill --sandbox
            Check a deployment's config:          lifeboat validate /etc/lifeboat/lifeboat.yml
            Documentation: docs/ in the source tree (configuration.md, drills.md, failover.md).
            """,
        version: "0.1.0",
        subcommands: [Validate.self, Monitor.self, Status.self, Events.self, Failover.self, Switchover.self, Pause.self, Resume.self, Drill.self, DNS.self, FSM.self, AgentCommand.self]
    )
}
