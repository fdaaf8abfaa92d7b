// swift-tools-version: 6.2
import PackageDescription

/// The fuzz targets: a libFuzzer executable per reader of peer bytes and one for the coordinator's state
/// machine, built apart from the root package (`Fuzz/run-fuzzers.sh`, `make fuzz`; see README.md).
let targets = [
    "control_request", "worker_report", "worker_command", "control_reply", "envelope_header", "event_batch",
    "wire_event", "json_value", "coordinator_state",
]

let package = Package(
    name: "flowpool-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package; its internal readers are reached through `@testable import` (debug builds).
        .package(name: "flowpool", path: "..")
    ],
    targets: [
        // Reading fuzz input as frames or as a stream of choices, and the checks the targets make.
        .target(name: "FuzzKit")
    ]
        + targets.map { name in
            .executableTarget(
                name: name,
                dependencies: [
                    "FuzzKit",
                    .product(name: "FlowPool", package: "flowpool"),
                    .product(name: "FlowCore", package: "flowpool"),
                ]
            )
        }
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.unsafeFlags(["-warnings-as-errors"]))
    target.swiftSettings = settings
}
