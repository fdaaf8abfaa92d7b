import ArgumentParser
import Foundation

/// `flowpool bench …`: runs the `flowpool-bench` executable installed next to `flowpool`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a pool (runs flowpool-bench; `flowpool bench --quick` is a one-minute smoke run).",
        discussion: """
            Every argument is passed to flowpool-bench. With no subcommand, or when the first argument is an \
            option, `load` is meant: `flowpool bench --quick` is `flowpool-bench load --quick`. \
            See `flowpool bench load --help`.
            """
    )

    @Argument(parsing: .captureForPassthrough, help: "Arguments for flowpool-bench.")
    var arguments: [String] = []

    /// The `flowpool-bench` executable next to this one.
    static func benchExecutable() -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("flowpool-bench").path
    }

    /// The arguments for flowpool-bench: `load` is implied when no subcommand is named.
    static func forwarded(_ arguments: [String]) -> [String] {
        guard let first = arguments.first else { return ["load"] }
        if first.hasPrefix("-"), first != "-h", first != "--help" { return ["load"] + arguments }
        return arguments
    }

    func run() throws {
        let path = Self.benchExecutable()
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError(
                "flowpool-bench is not installed next to flowpool (\(path)); build it with `swift build -c release --product flowpool-bench`"
            )
        }
        let argv = [path] + Self.forwarded(arguments)
        var cArgs = argv.map { strdup($0) } + [nil]
        execv(path, &cArgs)
        throw ValidationError("could not run \(path): \(String(cString: strerror(errno)))")
    }
}
