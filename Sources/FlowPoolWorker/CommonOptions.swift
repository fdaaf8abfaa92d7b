import ArgumentParser
import FlowPool
import Foundation
import Logging

/// Where the coordinator is: `--coordinator`, else `FLOWPOOL_COORDINATOR`, else `127.0.0.1:5570`.
package struct ConnectionOptions: ParsableArguments {
    package init() {}

    @Option(
        name: .long,
        help: "Coordinator control endpoint: HOST, HOST:PORT or tcp://HOST:PORT (env FLOWPOOL_COORDINATOR)."
    )
    package var coordinator: String = Environment.string("FLOWPOOL_COORDINATOR") ?? "127.0.0.1:5570"

    @Option(name: .long, help: "Seconds to wait for the coordinator's replies.")
    package var timeout: Double = 10

    package var timeoutDuration: Duration { .milliseconds(Int(timeout * 1000)) }

    package func validate() throws {
        guard !coordinator.isEmpty else { throw ValidationError("--coordinator must not be empty") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }
}

/// A peer's CURVE keys, for a coordinator that has keys: `--key-file` and `--coordinator-key` (or
/// `FLOWPOOL_KEY_FILE` and `FLOWPOOL_COORDINATOR_KEY`), both or neither.
package struct KeyOptions: ParsableArguments {
    package init() {}

    @Option(
        help: """
            This peer's secret key file, NAME.key_secret from `flowpool keys new` (env FLOWPOOL_KEY_FILE); needed \
            when the coordinator has keys.
            """
    )
    package var keyFile: String?

    @Option(
        help: """
            The coordinator's public key: its public key file (coordinator.key) or the key itself, 40 characters \
            (env FLOWPOOL_COORDINATOR_KEY).
            """
    )
    package var coordinatorKey: String?

    private var keyPath: String? { keyFile ?? Environment.string("FLOWPOOL_KEY_FILE") }
    private var serverKey: String? { coordinatorKey ?? Environment.string("FLOWPOOL_COORDINATOR_KEY") }

    package func validate() throws {
        switch (keyPath, serverKey) {
        case (nil, nil), (.some, .some): break
        case (.some, nil):
            throw ValidationError(
                "--key-file needs --coordinator-key (FLOWPOOL_COORDINATOR_KEY): the coordinator's public key file or key"
            )
        case (nil, .some):
            throw ValidationError("--coordinator-key needs --key-file (FLOWPOOL_KEY_FILE): this peer's secret key file")
        }
    }

    /// The keys, or nil without them.
    /// - Throws: `ValidationError` saying which file is wrong and how.
    package func load(logger: Logger? = nil) throws -> PoolKeys? {
        guard let keyPath, let serverKey else { return nil }
        do {
            let keys = try PoolKeys.load(keyFile: keyPath, coordinatorKey: serverKey)
            if let warning = CertificateFile.permissionWarning(path: keyPath) { logger?.warning("\(warning)") }
            return keys
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// Log verbosity: `--log-level`, else `FLOWPOOL_LOG_LEVEL`, else `info`. Logs go to standard error.
package struct LogOptions: ParsableArguments {
    package init() {}

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (env FLOWPOOL_LOG_LEVEL).")
    package var logLevel: String = Environment.string("FLOWPOOL_LOG_LEVEL") ?? "info"

    package func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level \(logLevel)")
        }
    }

    /// Bootstraps swift-log once for the process and returns a logger for `label`.
    package func makeLogger(_ label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LogBootstrap.once(level: level)
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

package enum LogBootstrap {
    private static let done = NSLock()
    nonisolated(unsafe) private static var bootstrapped = false

    /// Bootstraps logging to standard error (guarded by `done`, so safe from any thread).
    package static func once(level: Logger.Level) {
        done.lock()
        defer { done.unlock() }
        guard !bootstrapped else { return }
        bootstrapped = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Environment variables with defaults.
package enum Environment {
    package static func string(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    package static func int(_ name: String) -> Int? { string(name).flatMap(Int.init) }
}

/// Writes a line to standard output and flushes it (output may be a pipe read by another program).
package func printFlushed(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes a line to standard error.
package func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Durations as options take them: a number with a unit, `ms`, `s`, `m` or `h` (`500ms`, `1.5s`, `30s`, `5m`).
package enum DurationText {
    /// The duration, or nil when the text is not one (or not positive).
    package static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            guard let n = Double(text.dropLast(suffix.count)), n > 0, n.isFinite else { return nil }
            let ms = n * seconds * 1000
            guard ms >= 1, ms <= 1e12 else { return nil }
            return .milliseconds(Int64(ms.rounded()))
        }
        return nil
    }
}
