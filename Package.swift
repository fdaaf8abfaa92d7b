// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "flowpool",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "FlowCore", targets: ["FlowCore"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "FlowPool", targets: ["FlowPool"]),
        .library(name: "FlowAgents", targets: ["FlowAgents"]),
        .library(name: "FlowPoolWorker", targets: ["FlowPoolWorker"]),
        .executable(name: "flowpool", targets: ["FlowPoolCLI"]),
        .executable(name: "flowpool-bench", targets: ["FlowPoolBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // `flowpool web` (HTTP and server-sent events); without the default traits' swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // `make docs` (swift package generate-documentation).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Property tests (test targets only).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // System libraries (Debian packages; installed by `make` when missing).
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // prctl(2), which Swift cannot call directly (it is variadic).
        .systemLibrary(name: "CProcessControl", path: "Sources/CProcessControl"),

        // Thin Swift binding of libzmq. Knows nothing about flows.
        .target(
            name: "ZeroMQ",
            dependencies: [
                "CZeroMQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Nodes, flows, shared store, events. Depends on no ZeroMQ.
        .target(
            name: "FlowCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        // Wire protocol, coordinator, worker, client, subscriber, flow registry.
        .target(
            name: "FlowPool",
            dependencies: [
                "FlowCore",
                "ZeroMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Child processes for the length of a scope (swift-subprocess), and the parent-death signal.
        .target(
            name: "ProcessSupervision",
            dependencies: [
                .target(name: "CProcessControl", condition: .when(platforms: [.linux])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // Agent nodes, LLM providers, tools, sales_agent / stock_agent, the agent4 workload.
        .target(
            name: "FlowAgents",
            dependencies: [
                "FlowCore",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources")]
        ),
        // The benchmark and diagnostic flows (agent4, agent4_llm, sleep, spin, flaky, fail) that the `flowpool`
        // command's workers and the bench register; the library itself ships none.
        .target(name: "FlowPoolWorkloads", dependencies: ["FlowCore", "FlowPool"]),
        // The `flowpool worker` command for any executable that registers its flows (`WorkerMain.run`), with the
        // options, logging and metrics set-up every `flowpool` command shares.
        .target(
            name: "FlowPoolWorker",
            dependencies: [
                "FlowCore",
                "FlowPool",
                "ProcessSupervision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // `flowpool web`: the pool's live web view, a client and subscriber of the pool like any other.
        .target(
            name: "FlowPoolWeb",
            dependencies: [
                "FlowCore",
                "FlowPool",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The pages' script and style sheet, compiled into the binary (no files to ship beside it).
            resources: [.embedInCode("Assets/app.js"), .embedInCode("Assets/app.css")]
        ),
        // The `flowpool` command: the only place that parses arguments and bootstraps logging and metrics.
        .executableTarget(
            name: "FlowPoolCLI",
            dependencies: [
                "FlowCore",
                "FlowPool",
                "FlowPoolWorker",
                "FlowPoolWorkloads",
                "FlowPoolWeb",
                "FlowAgents",
                "ZeroMQ",
                "ProcessSupervision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The load-test harness.
        .executableTarget(
            name: "FlowPoolBench",
            dependencies: [
                "FlowCore",
                "FlowPool",
                "FlowPoolWorkloads",
                "FlowAgents",
                "ZeroMQ",
                "CZeroMQ",
                "ProcessSupervision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/Sources/FlowPoolBench"
        ),

        .testTarget(name: "FlowCoreTests", dependencies: ["FlowCore"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "CZeroMQ"]),
        .testTarget(
            name: "FlowPoolTests",
            dependencies: [
                "FlowPool", "FlowCore", "ZeroMQ", "FlowAgents", "ProcessSupervision", "FlowPoolWeb",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            // The pyzmq client the tests spawn (located through #filePath).
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "FlowAgentsTests",
            dependencies: ["FlowAgents", "FlowCore", .product(name: "Logging", package: "swift-log")],
            // The loopback LLM server the tests spawn (located through #filePath).
            exclude: ["Fixtures"]
        ),
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    // Require `any` for existential types.
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // A file sees only the modules it imports.
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // Zero warnings, enforced.
    settings.append(.unsafeFlags(["-warnings-as-errors"]))
    // Exclusive access is checked at run time in debug builds, which the tests use; release builds leave the
    // per-access bookkeeping out of the hot paths.
    settings.append(.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)))
    target.swiftSettings = settings
}
