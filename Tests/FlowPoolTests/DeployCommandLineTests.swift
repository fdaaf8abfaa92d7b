import Foundation
import Testing

/// Every `flowpool` command line written in deploy/ — Compose and Kubernetes arrays, systemd `ExecStart`, and the
/// commands in comments and in deploy/README.md — is parsed and validated by the real executable
/// (`FLOWPOOL_CHECK_ARGUMENTS=1`), so a renamed flag or a missing argument fails the tests.
@Suite("Deploy command lines")
struct DeployCommandLineTests {
    /// One command line found in a file.
    struct Found: CustomStringConvertible {
        var file: String
        var line: Int
        var arguments: [String]
        /// Variables the file sets for it (a systemd environment file).
        var environment: [String: String] = [:]
        var description: String { "\(file):\(line): flowpool \(arguments.joined(separator: " "))" }
    }

    static let subcommands = [
        "coordinator", "worker", "subscribe", "submit", "status", "cancel", "demo", "ask", "bench", "keys", "web",
    ]

    static var deployDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy").path
    }

    /// The strings of a YAML flow sequence such as `["worker", "--concurrency", "32"]`.
    static func quotedItems(_ text: Substring) -> [String] {
        var items: [String] = []
        var current: String?
        var escaped = false
        for c in text {
            if var s = current {
                if escaped {
                    s.append(c)
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    items.append(s)
                    current = nil
                    continue
                } else {
                    s.append(c)
                }
                current = s
            } else if c == "\"" {
                current = ""
            }
        }
        return items
    }

    /// Shell words: spaces separate, single and double quotes group.
    static func shellWords(_ text: Substring) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// A systemd unit's specifiers as they would expand on a host named `host`, for instance 1 of `unit`.
    static func expandingSpecifiers(_ text: String, unit: String) -> String {
        text.replacingOccurrences(of: "%H", with: "host").replacingOccurrences(of: "%i", with: "1")
            .replacingOccurrences(of: "%d", with: "/run/credentials/\(unit)")
    }

    /// The variables a unit's `Environment=` lines set.
    static func unitEnvironment(_ text: String, unit: String) -> [String: String] {
        var environment: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("Environment=") {
            for word in shellWords(line.dropFirst("Environment=".count)) {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.count == 2 {
                    environment[String(parts[0])] = expandingSpecifiers(String(parts[1]), unit: unit)
                }
            }
        }
        return environment
    }

    /// The command lines of every file under deploy/.
    static func commandLines() throws -> [Found] {
        let root = deployDirectory
        let files = try FileManager.default.subpathsOfDirectory(atPath: root).sorted()
        var found: [Found] = []
        var systemdEnvironment: [String: String] = [:]
        if let env = try? String(contentsOfFile: "\(root)/systemd/flowpool.env", encoding: .utf8) {
            for line in env.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { systemdEnvironment[String(parts[0])] = String(parts[1]) }
            }
        }
        for file in files {
            guard let text = try? String(contentsOfFile: "\(root)/\(file)", encoding: .utf8) else { continue }
            // A unit's own Environment= lines, which the environment file overrides (as systemd does).
            let unit = (file as NSString).lastPathComponent.replacingOccurrences(of: "@.", with: "@1.")
            let environment = unitEnvironment(text, unit: unit).merging(systemdEnvironment) { $1 }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let number = index + 1
                if let range = line.range(of: "ExecStart=") {
                    var words = shellWords(line[range.upperBound...])
                    guard words.first?.hasSuffix("/flowpool") == true else { continue }
                    words.removeFirst()
                    words = words.map { expandingSpecifiers($0, unit: unit) }
                    found.append(Found(file: file, line: number, arguments: words, environment: environment))
                    continue
                }
                if let range = line.range(of: #"(command|args): \["#, options: .regularExpression) {
                    var items = quotedItems(line[range.upperBound...])
                    if items.first == "flowpool" { items.removeFirst() }
                    guard let first = items.first, subcommands.contains(first) else { continue }
                    // Kubernetes fills $(VAR) from the container's environment.
                    items = items.map { $0.replacingOccurrences(of: "$(FLOWPOOL_WORKER_ID)", with: "w-1") }
                    found.append(Found(file: file, line: number, arguments: items))
                    continue
                }
                // Commands written out in comments and prose: `flowpool <subcommand> …`, up to a backtick, ` / ` or
                // the end of the line.
                var rest = line[...]
                while let range = rest.range(of: "flowpool ") {
                    let after = rest[range.upperBound...]
                    let end =
                        [after.range(of: "`")?.lowerBound, after.range(of: " / ")?.lowerBound]
                        .compactMap { $0 }.min() ?? after.endIndex
                    let words = shellWords(after[..<end])
                    if let first = words.first, subcommands.contains(first), !words.contains("…") {
                        found.append(Found(file: file, line: number, arguments: words))
                    }
                    rest = after[end...]
                }
            }
        }
        return found
    }

    @Test("every flowpool command line in deploy/ is accepted by the command")
    func everyCommandLineParses() async throws {
        let found = try Self.commandLines()
        // The coordinator and worker of each of systemd, Compose and Kubernetes, and the probe, at least.
        #expect(found.count >= 7, "\(found)")
        for command in found {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: PoolHarness.executable)
            process.arguments = command.arguments
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FLOWPOOL_") }
            environment.merge(command.environment) { $1 }
            environment["FLOWPOOL_CHECK_ARGUMENTS"] = "1"
            process.environment = environment
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(command)\n\(message)")
        }
    }

    @Test("the check itself refuses what the command refuses")
    func theCheckRefuses() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PoolHarness.executable)
        process.arguments = ["submit", "sales_agent", "--input", "{}"]
        process.environment = ["FLOWPOOL_CHECK_ARGUMENTS": "1"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(message.contains("--namespace"), "\(message)")
    }
}
