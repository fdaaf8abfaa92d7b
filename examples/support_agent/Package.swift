// swift-tools-version: 6.2
import PackageDescription

// A worker of your own: the `support_agent` flow (its own retrieval node and knowledge-base tool, FlowAgents'
// decision, tool and answer nodes) registered in an executable that runs the complete `flowpool worker` command.
let package = Package(
    name: "support-agent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "support-worker", targets: ["SupportWorker"]),
        .library(name: "SupportAgent", targets: ["SupportAgent"]),
    ],
    dependencies: [
        // FlowPool itself, two directories up. In a project of your own, depend on it by URL instead.
        .package(name: "flowpool", path: "../.."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The flow, its nodes, its tool and its knowledge base (Resources/articles.json).
        .target(
            name: "SupportAgent",
            dependencies: [
                .product(name: "FlowCore", package: "flowpool"),
                .product(name: "FlowAgents", package: "flowpool"),
                .product(name: "FlowPool", package: "flowpool"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.process("Resources/articles.json")]
        ),
        // `support-worker`: `flowpool worker` with `support_agent` registered.
        .executableTarget(
            name: "SupportWorker",
            dependencies: [
                "SupportAgent",
                .product(name: "FlowPoolWorker", package: "flowpool"),
            ]
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.unsafeFlags(["-warnings-as-errors"]))
    target.swiftSettings = settings
}
