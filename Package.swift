// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "lifeboat",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lifeboat", targets: ["lifeboat"]),
        .library(name: "LifeboatCore", targets: ["LifeboatCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Pure decision core: no I/O, no NIO, no Logging/Metrics, no wall clock.
        .target(name: "LifeboatCore", swiftSettings: strict),
        // The protocols adapters implement (and the deadline helper they share): Core only.
        .target(name: "LifeboatPorts", dependencies: ["LifeboatCore"], swiftSettings: strict),
        // YAML -> validated Topology/Policy; the only reader of config files and env.
        .target(
            name: "LifeboatConfig",
            dependencies: ["LifeboatCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(
            name: "LifeboatPostgres",
            dependencies: [
                "LifeboatCore", "LifeboatConfig", "LifeboatPorts",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // DNS wire format, TSIG and the RFC 2136 UPDATE client; the Linode DNS API.
        .target(
            name: "LifeboatDNS",
            dependencies: [
                "LifeboatCore", "LifeboatConfig", "LifeboatPorts",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Runs the core against the ports: probe scheduling, the engine, the journal, agent coordination.
        .target(
            name: "LifeboatEngine",
            dependencies: [
                "LifeboatCore", "LifeboatPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The embedded state store (SQLite via GRDB): epoch, machine snapshot, journal.
        .target(
            name: "LifeboatStore",
            dependencies: ["LifeboatCore", "LifeboatPorts", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // etcd v3 through its JSON gateway, for several monitors: leader election, the epoch store,
        // the shared state and journal.
        .target(
            name: "LifeboatEtcd",
            dependencies: [
                "LifeboatCore", "LifeboatPorts",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Notifications: Slack, PagerDuty Events API v2, signed JSON webhooks.
        .target(
            name: "LifeboatNotify",
            dependencies: [
                "LifeboatCore", "LifeboatPorts",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Application health checks: HTTP(S) GET and TCP connect.
        .target(
            name: "LifeboatProbes",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The monitor's HTTP API: status, events, operator commands.
        .target(
            name: "LifeboatHTTP",
            dependencies: ["LifeboatCore", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The agent's wire protocol: request signing, bodies, and the monitor's client (fencing
        // through the agent, status, sync-now) as a NodeAgent adapter.
        .target(
            name: "LifeboatAgentAPI",
            dependencies: [
                "LifeboatCore", "LifeboatPorts", "LifeboatProbes",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Debian's MariaDB Connector/C (libmariadb-dev), for the agent's mysql check.
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        // The node agent: /healthz, role endpoints, signed actions, file replication.
        .target(
            name: "LifeboatAgent",
            dependencies: [
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "LifeboatCore", "LifeboatConfig", "LifeboatPorts", "LifeboatPostgres", "LifeboatProbes", "LifeboatAgentAPI", "LifeboatHTTP", "CMariaDB",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The one assembly of a running monitor (engine, state store, notifiers, API, agent
        // coordinator, application checks in a ServiceGroup): `lifeboat monitor` and the drill.
        .target(
            name: "LifeboatMonitor",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                "LifeboatCore", "LifeboatConfig", "LifeboatPorts", "LifeboatEngine", "LifeboatPostgres", "LifeboatDNS", "LifeboatStore",
                "LifeboatNotify", "LifeboatProbes", "LifeboatHTTP", "LifeboatAgentAPI", "LifeboatEtcd",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LifeboatSandbox",
            dependencies: [
                "LifeboatCore", "LifeboatConfig", "LifeboatPorts", "LifeboatPostgres", "LifeboatEngine", "LifeboatDNS", "LifeboatAgent",
                "LifeboatAgentAPI", "LifeboatMonitor", "LifeboatEtcd", "LifeboatHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "lifeboat",
            dependencies: [
                "LifeboatCore", "LifeboatConfig", "LifeboatEngine", "LifeboatSandbox", "LifeboatDNS", "LifeboatHTTP",
                "LifeboatAgent", "LifeboatMonitor", "LifeboatAgentAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LifeboatTestSupport",
            dependencies: [
                "LifeboatSandbox", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/LifeboatTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "LifeboatCoreTests", dependencies: ["LifeboatCore", "LifeboatTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "LifeboatDNSTests",
            dependencies: ["LifeboatDNS", "LifeboatPorts", "LifeboatConfig", "LifeboatSandbox", "LifeboatTestSupport", .product(name: "Yams", package: "Yams")],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LifeboatNotifyTests",
            dependencies: ["LifeboatNotify", "LifeboatPorts", "LifeboatTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .testTarget(name: "LifeboatProbesTests", dependencies: ["LifeboatProbes", "LifeboatTestSupport", "LifeboatSandbox"], swiftSettings: strict),
        .testTarget(name: "LifeboatStoreTests", dependencies: ["LifeboatStore", "LifeboatPorts"], swiftSettings: strict),
        .testTarget(name: "LifeboatEtcdTests", dependencies: ["LifeboatEtcd", "LifeboatCore", "LifeboatPorts", "LifeboatSandbox", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(
            name: "LifeboatEngineTests",
            dependencies: ["LifeboatEngine", "LifeboatPorts", "LifeboatTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LifeboatHTTPTests",
            dependencies: ["LifeboatHTTP", "LifeboatCore", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: strict
        ),
        .testTarget(name: "LifeboatArchitectureTests", dependencies: [], swiftSettings: strict),
        .testTarget(name: "LifeboatConfigTests", dependencies: ["LifeboatConfig", "LifeboatTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "LifeboatPostgresTests",
            dependencies: ["LifeboatPostgres", "LifeboatPorts", "LifeboatSandbox", "LifeboatTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LifeboatSandboxTests",
            dependencies: ["LifeboatSandbox", "LifeboatAgentAPI", "LifeboatCore", "LifeboatEngine", "LifeboatPorts", "LifeboatPostgres", "LifeboatDNS", "LifeboatNotify", "LifeboatStore", "LifeboatEtcd", "LifeboatHTTP",
                           "LifeboatMonitor", "LifeboatTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LifeboatAgentTests",
            dependencies: ["LifeboatAgent", "LifeboatAgentAPI", "LifeboatPorts", "LifeboatConfig", "LifeboatPostgres", "LifeboatSandbox", "LifeboatTestSupport", "LifeboatHTTP", "LifeboatCore",
                           "LifeboatMonitor",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LifeboatCLITests",
            dependencies: ["lifeboat", "LifeboatSandbox", "LifeboatStore", "LifeboatPorts", "LifeboatTestSupport", "LifeboatAgentAPI", "LifeboatCore", "LifeboatConfig", "LifeboatHTTP", .product(name: "Yams", package: "Yams"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: strict
        ),
    ]
)
