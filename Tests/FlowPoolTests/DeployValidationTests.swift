import Foundation
import Testing

/// The deploy files against their real schemas and tools: the Kubernetes manifests with kubernetes-validate (strict:
/// an unknown field fails), the Compose file against the Compose schema, the systemd units with
/// `systemd-analyze verify` (a warning fails). Each check is also shown a broken copy, which it must refuse. The
/// validators come from `scripts/ensure-deps.sh` (`make test` runs it); where one is missing its test is skipped,
/// saying so.
@Suite("Deploy files validated")
struct DeployValidationTests {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }
    static var deploy: URL { root.appendingPathComponent("deploy") }
    static var pytools: String { root.appendingPathComponent(".build/pytools").path }

    static var hasKubernetesValidate: Bool {
        FileManager.default.fileExists(atPath: pytools + "/kubernetes_validate")
    }
    static var composeSchema: String { pytools + "/compose/config/compose_spec.json" }
    static var hasComposeSchema: Bool { FileManager.default.fileExists(atPath: composeSchema) }
    static var systemdAnalyze: String? {
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a program; returns its status and its standard output and error together.
    static func run(
        _ program: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "flowpool-deploy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(
        "the Kubernetes manifests pass kubernetes-validate --strict; a manifest with an unknown field does not",
        .enabled(if: hasKubernetesValidate, "kubernetes-validate is not in .build/pytools (scripts/ensure-deps.sh)")
    )
    func kubernetes() throws {
        let directory = Self.deploy.appendingPathComponent("kubernetes")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") }.sorted().map { directory.appendingPathComponent($0).path }
        #expect(files.count >= 3, "\(files)")
        let env = ["PYTHONPATH": Self.pytools]
        let good = try Self.run(
            "/usr/bin/python3",
            ["-m", "kubernetes_validate", "--strict"] + files,
            environment: env
        )
        #expect(good.status == 0, "\(good.output)")
        #expect(!good.output.contains("ERROR"), "\(good.output)")
        for kind in ["StatefulSet", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"] {
            #expect(good.output.lowercased().contains("resource \(kind.lowercased())/"), "\(kind) validated")
        }

        let scratch = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let broken = scratch + "/workers.yaml"
        let text = try String(contentsOfFile: directory.appendingPathComponent("workers.yaml").path, encoding: .utf8)
        try text.replacingOccurrences(of: "containerPort:", with: "containerPorts:")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try Self.run("/usr/bin/python3", ["-m", "kubernetes_validate", "--strict", broken], environment: env)
        #expect(bad.status != 0, "a misspelt field passed: \(bad.output)")
    }

    /// A Python check of a YAML file against a JSON schema; prints each error.
    static let schemaCheck = """
        import json, sys, yaml, jsonschema
        schema = json.load(open(sys.argv[1]))
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(open(sys.argv[2]))))
        for e in errors: print("/".join(map(str, e.path)), e.message)
        sys.exit(1 if errors else 0)
        """

    @Test(
        "the Compose file matches the Compose schema; one with an unknown service key does not",
        .enabled(if: hasComposeSchema, "the Compose schema is not in .build/pytools (scripts/ensure-deps.sh)")
    )
    func compose() throws {
        let env = ["PYTHONPATH": Self.pytools]
        let file = Self.deploy.appendingPathComponent("compose.yaml").path
        let good = try Self.run(
            "/usr/bin/python3",
            ["-c", Self.schemaCheck, Self.composeSchema, file],
            environment: env
        )
        #expect(good.status == 0, "\(good.output)")

        let scratch = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let broken = scratch + "/compose.yaml"
        try String(contentsOfFile: file, encoding: .utf8)
            .replacingOccurrences(of: "stop_grace_period:", with: "stop_grace_periods:")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try Self.run(
            "/usr/bin/python3",
            ["-c", Self.schemaCheck, Self.composeSchema, broken],
            environment: env
        )
        #expect(bad.status != 0, "a misspelt key passed: \(bad.output)")
    }

    @Test(
        "the systemd units pass systemd-analyze verify without a warning; a unit with an unknown key does not",
        .enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (Debian package systemd)")
    )
    func systemd() throws {
        let analyze = try #require(Self.systemdAnalyze)
        let scratch = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let units = Self.deploy.appendingPathComponent("systemd")
        let names = try FileManager.default.contentsOfDirectory(atPath: units.path).filter { $0.hasSuffix(".service") }
        #expect(names.count == 2, "\(names)")
        // The units name the installed binary; verify checks that it exists and runs, so point them at the built one.
        for name in names {
            let text = try String(contentsOfFile: units.appendingPathComponent(name).path, encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/flowpool", with: PoolHarness.executable)
                .write(toFile: "\(scratch)/\(name)", atomically: true, encoding: .utf8)
        }
        let paths = names.sorted().map { "\(scratch)/\($0)" }
        let good = try Self.run(analyze, ["verify"] + paths)
        #expect(good.status == 0 && good.output.isEmpty, "\(good.output)")

        let broken = "\(scratch)/broken.service"
        try String(contentsOfFile: paths[0], encoding: .utf8)
            .replacingOccurrences(of: "\nExecStart=", with: "\nExecStartt=")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try Self.run(analyze, ["verify", broken])
        #expect(bad.status != 0 || !bad.output.isEmpty, "a misspelt key passed")
    }
}
