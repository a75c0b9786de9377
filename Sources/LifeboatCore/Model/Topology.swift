/// A region (a data centre, a Linode region). Lower `priority` numbers are preferred when two
/// failover candidates are otherwise equal.
public struct Region: Hashable, Sendable {
    public var name: String
    public var priority: Int

    public init(name: String, priority: Int) {
        self.name = name
        self.priority = priority
    }
}

/// A PostgreSQL server the monitor watches. Connection settings live in the config layer; the
/// core only needs identity and placement.
public struct DatabaseNode: Hashable, Sendable {
    public var name: String
    public var region: String

    public init(name: String, region: String) {
        self.name = name
        self.region = region
    }
}

public struct Topology: Sendable, Equatable {
    public var regions: [Region]
    public var databaseNodes: [DatabaseNode]

    public init(regions: [Region], databaseNodes: [DatabaseNode]) {
        self.regions = regions
        self.databaseNodes = databaseNodes
    }

    public func node(named name: String) -> DatabaseNode? {
        databaseNodes.first { $0.name == name }
    }

    public func region(ofNode name: String) -> Region? {
        guard let node = node(named: name) else { return nil }
        return regions.first { $0.name == node.region }
    }

    /// Priority of a node's region; nodes in unknown regions sort last.
    public func priority(ofNode name: String) -> Int {
        region(ofNode: name)?.priority ?? Int.max
    }
}
