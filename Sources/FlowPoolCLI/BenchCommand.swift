import ArgumentParser
import FlowPoolWorker
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
        // Prefer the executable next to this one (same build); else look it up on PATH.
        let sibling = Self.benchExecutable()
        let path = FileManager.default.isExecutableFile(atPath: sibling) ? sibling : "flowpool-bench"
        let argv = [path] + Self.forwarded(arguments)
        var cArgs = argv.map { strdup($0) } + [nil]
        execvp(path, &cArgs)
        throw ValidationError(
            "could not run flowpool-bench (\(String(cString: strerror(errno)))): build it next to flowpool with "
                + "`swift build -c release --product flowpool-bench` or put it on PATH"
        )
    }
}
