import FlowCore
import FlowPool
import Foundation
import Synchronization
import Testing

/// Hosts of a test network, each a Linux network namespace of its own with an address from 198.18.0.0/15
/// (reserved for benchmarking: it leads nowhere outside this machine), joined by veth pairs to a bridge that
/// lives in a namespace of its own. Nothing is added to the root namespace, and no namespace has a route other
/// than its own /24: test traffic can reach no other address.
///
/// Names are `fpmh<pid>-<n>-<role>`, unique per test process and per network, so concurrent test runs do not
/// collide; networks left behind by a test process that died are removed before the first network is made.
enum NetworkNamespaces {
    /// One host of the test network.
    struct Host: Sendable, Hashable, CustomStringConvertible {
        /// Short name: part of the namespace's name and of the bridge port's (at most 10 characters).
        let role: String
        let address: String

        var description: String { "\(role) (\(address))" }

        static let coordinator = Host(role: "coord", address: "198.18.0.1")
        static let worker1 = Host(role: "w1", address: "198.18.0.11")
        static let worker2 = Host(role: "w2", address: "198.18.0.12")
        static let subscriber = Host(role: "sub", address: "198.18.0.21")

        static let all: [Host] = [.coordinator, .worker1, .worker2, .subscriber]
    }

    /// The prefix of every namespace the tests make.
    static let namePrefix = "fpmh"

    /// The `ip` executable (iproute2), if installed.
    static let ip: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// `scripts/link-emulator.py` in this checkout: delay and loss on a host's link, in user space.
    static let linkEmulator = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/link-emulator.py").path

    /// What a probe found: why namespaces (or delay and loss on their links) cannot be used here, nil when they can.
    private struct Probe: Sendable {
        var namespaces: String?
        var impairment: String?
    }

    private static let probe: Probe = {
        guard geteuid() == 0 else {
            return Probe(namespaces: "not root: making network namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
        }
        guard let ip else {
            return Probe(namespaces: "no `ip` command: install iproute2 (scripts/ensure-deps.sh does)")
        }
        sweepStale()
        let name = "\(namePrefix)\(getpid())-probe"
        defer { _ = try? Command.run(ip, ["netns", "del", name]) }
        let steps: [[String]] = [
            ["netns", "add", name],
            ["-n", name, "link", "add", "br0", "type", "bridge"],
            ["-n", name, "link", "add", "vp0", "type", "veth", "peer", "name", "vp1"],
            ["-n", name, "link", "set", "vp0", "up"],
        ]
        for step in steps {
            let out: Command.Output
            do { out = try Command.run(ip, step) } catch { return Probe(namespaces: "`ip` cannot run: \(error)") }
            if out.status != 0 {
                let what = "ip " + step.joined(separator: " ")
                return Probe(namespaces: "`\(what)` failed: \(out.stderr.trimmed)")
            }
        }
        // The link emulator: a TAP device in a namespace, and Python to run the emulator.
        let tap = try? Command.run(ip, ["-n", name, "tuntap", "add", "dev", "tp0", "mode", "tap"])
        guard let tap, tap.status == 0 else {
            return Probe(
                impairment:
                    "no TAP device can be made (`ip tuntap add … mode tap`: \(tap?.stderr.trimmed ?? "did not run")); the links' delay and loss cannot be emulated"
            )
        }
        let python = try? Command.run("/usr/bin/env", ["python3", linkEmulator, "--help"])
        guard let python, python.status == 0 else {
            return Probe(
                impairment:
                    "`python3 scripts/link-emulator.py --help` failed (\(python?.stderr.trimmed ?? "no /usr/bin/env")): install python3 (scripts/ensure-deps.sh does)"
            )
        }
        return Probe()
    }()

    /// Why network namespaces cannot be made here (not root, no `ip`, no kernel support), or nil.
    static var unavailable: String? { probe.namespaces }

    /// Why the links' delay and loss cannot be emulated (no TAP devices, no Python), or nil; implies
    /// ``unavailable`` when that is set.
    static var impairmentUnavailable: String? { probe.namespaces ?? probe.impairment }

    /// Removes the namespaces (and temporary directories) of test processes that no longer run, and stops what
    /// still runs in them.
    static func sweepStale() {
        /// Whether `name` is one of ours whose test process is gone.
        func stale(_ name: String) -> Bool {
            guard name.hasPrefix(namePrefix),
                let owner = Int32(name.dropFirst(namePrefix.count).prefix { $0 != "-" }),
                owner != getpid()
            else { return false }
            return kill(owner, 0) != 0 && errno == ESRCH
        }
        if let ip, let list = try? Command.run(ip, ["netns", "list"]), list.status == 0 {
            // `NAME` or `NAME (id: N)`.
            for line in list.stdout.split(separator: "\n") {
                let name = String(line.split(separator: " ").first ?? "")
                if stale(name) { remove(namespace: name) }
            }
        }
        let temporary = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where stale(name) {
            try? FileManager.default.removeItem(atPath: (temporary as NSString).appendingPathComponent(name))
        }
    }

    /// SIGKILLs every process in `namespace`, then deletes it (its veths and bridge go with it).
    static func remove(namespace: String) {
        guard let ip else { return }
        for _ in 0..<50 {
            let pids =
                (try? Command.run(ip, ["netns", "pids", namespace]))?.stdout.split(separator: "\n")
                .compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) } ?? []
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(20_000)
        }
        _ = try? Command.run(ip, ["netns", "del", namespace])
    }
}

/// Delay and loss added to everything a host sends, as `tc qdisc add dev eth0 root netem delay DELAYms JITTERms
/// loss LOSS%` would add; `scripts/link-emulator.py` does it in user space, so kernels built without netem (the build
/// machines' among them) can run it too.
struct LinkImpairment: Sendable, CustomStringConvertible {
    var delayMs: Int
    var jitterMs: Int
    var lossPercent: Double

    var description: String { "\(delayMs) ms ± \(jitterMs) ms, \(lossPercent.formatted()) % loss" }
}

/// A coordinator host, worker hosts and a subscriber host (``NetworkNamespaces/Host``) on one bridge.
///
/// Each host's `eth0` carries its address. Without an impairment it is a veth whose peer is the host's bridge port.
/// With one it is a TAP device, and a link emulator (`scripts/link-emulator.py`, in the host's namespace) carries
/// frames between it and `up0`, the veth to the bridge port: what the host sends is delayed and lost on the way,
/// what it receives passes at once (as netem on every host's `eth0` would have it).
final class HostNetwork: Sendable {
    typealias Host = NetworkNamespaces.Host

    /// `fpmh<pid>-<n>`: the start of this network's namespace names.
    let name: String
    let hosts: [Host]
    let ip: String
    let impairment: LinkImpairment?
    private let emulators = Mutex<[Host: PoolProcess]>([:])
    private static let made = Atomic<Int>(0)

    private init(name: String, hosts: [Host], ip: String, impairment: LinkImpairment?) {
        self.name = name
        self.hosts = hosts
        self.ip = ip
        self.impairment = impairment
    }

    /// The bridge's namespace.
    var bridgeNamespace: String { "\(name)-br" }

    /// `host`'s namespace.
    func namespace(_ host: Host) -> String { "\(name)-\(host.role)" }

    /// The bridge's port for `host` (its end of the host's veth pair), in ``bridgeNamespace``.
    func port(_ host: Host) -> String { "p-\(host.role)" }

    /// The launcher that runs a program in `host`'s namespace (for ``PoolProcess``).
    func launcher(_ host: Host) -> [String] { [ip, "netns", "exec", namespace(host)] }

    /// Makes the namespaces, the bridge and a veth pair per host (`eth0` in the host, its port on the bridge); with
    /// an `impairment`, the hosts' TAP devices and their link emulators (writing their output in `directory`), once
    /// each says it is ready. On failure removes what it made.
    static func create(
        hosts: [Host] = Host.all,
        impairment: LinkImpairment? = nil,
        directory: String
    ) async throws -> HostNetwork {
        guard let ip = NetworkNamespaces.ip else { throw HarnessError("no `ip` command") }
        let n = made.wrappingAdd(1, ordering: .relaxed).newValue
        let network = HostNetwork(
            name: "\(NetworkNamespaces.namePrefix)\(getpid())-\(n)",
            hosts: hosts,
            ip: ip,
            impairment: impairment
        )
        do {
            let br = network.bridgeNamespace
            try network.ip(["netns", "add", br])
            try network.ip(["-n", br, "link", "set", "lo", "up"])
            try network.ip(["-n", br, "link", "add", "br0", "type", "bridge"])
            try network.ip(["-n", br, "link", "set", "br0", "up"])
            for host in hosts {
                let ns = network.namespace(host)
                try network.ip(["netns", "add", ns])
                try network.ip(["-n", ns, "link", "set", "lo", "up"])
                let peer = impairment == nil ? "eth0" : "up0"
                try network.ip([
                    "-n", br, "link", "add", network.port(host), "type", "veth", "peer", "name", peer, "netns", ns,
                ])
                try network.ip(["-n", br, "link", "set", network.port(host), "master", "br0", "up"])
                if impairment != nil {
                    try network.ip(["-n", ns, "link", "set", "up0", "up"])
                    try network.ip(["-n", ns, "tuntap", "add", "dev", "eth0", "mode", "tap"])
                }
                try network.ip(["-n", ns, "addr", "add", "\(host.address)/24", "dev", "eth0"])
                try network.ip(["-n", ns, "link", "set", "eth0", "up"])
            }
            if let impairment {
                for (i, host) in hosts.enumerated() {
                    try await network.startEmulator(on: host, impairment, seed: i + 1, directory: directory)
                }
            }
        } catch {
            network.destroy()
            throw error
        }
        return network
    }

    /// Starts the link emulator between `host`'s TAP device and its uplink and waits until it is attached.
    private func startEmulator(on host: Host, _ impairment: LinkImpairment, seed: Int, directory: String) async throws {
        let emulator = try PoolProcess(
            name: "link-\(host.role)",
            arguments: [
                NetworkNamespaces.linkEmulator, "--tap", "eth0", "--uplink", "up0",
                "--delay-ms", "\(impairment.delayMs)", "--jitter-ms", "\(impairment.jitterMs)",
                "--loss-percent", "\(impairment.lossPercent)", "--seed", "\(seed)",
            ],
            directory: directory,
            launcher: launcher(host),
            executable: "python3"
        )
        emulators.withLock { $0[host] = emulator }
        let deadline = ContinuousClock.now + .seconds(20)
        while !emulator.stdout.contains("ready") {
            guard emulator.isRunning, ContinuousClock.now < deadline else {
                throw HarnessError("the link emulator of \(host) did not start: \(emulator.stderr.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// What each host's link emulator has done so far (`sent`, `lost`, `over_limit`, `send_errors`, `received`
    /// frames); empty without an impairment.
    func linkCounts() async throws -> [Host: [String: Int]] {
        var out: [Host: [String: Int]] = [:]
        for (host, emulator) in emulators.withLock({ $0 }) {
            let before = emulator.stdout.split(separator: "\n").count
            emulator.signal(SIGUSR1)
            let deadline = ContinuousClock.now + .seconds(10)
            var lines = emulator.stdout.split(separator: "\n")
            while lines.count <= before {
                guard emulator.isRunning, ContinuousClock.now < deadline else {
                    throw HarnessError("the link emulator of \(host) did not report: \(emulator.stderr.suffix(2000))")
                }
                try await Task.sleep(for: .milliseconds(20))
                lines = emulator.stdout.split(separator: "\n")
            }
            let counts = try JSONValue(wireText: String(lines[lines.count - 1]))
            out[host] = (counts.objectValue ?? [:]).compactMapValues(\.intValue)
        }
        return out
    }

    /// Runs `ip ARGUMENTS`; throws with its message when it fails.
    @discardableResult
    func ip(_ arguments: [String]) throws -> String {
        let out = try Command.run(ip, arguments)
        guard out.status == 0 else {
            throw HarnessError("ip \(arguments.joined(separator: " ")) failed (\(out.status)): \(out.stderr.trimmed)")
        }
        return out.stdout
    }

    /// Cuts `host`'s link: its bridge port goes down (as if its cable were pulled; the host keeps its address).
    func cut(_ host: Host) throws {
        try ip(["-n", bridgeNamespace, "link", "set", port(host), "down"])
    }

    /// Restores `host`'s link.
    func heal(_ host: Host) throws {
        try ip(["-n", bridgeNamespace, "link", "set", port(host), "up"])
    }

    /// Stops every process left in the network's namespaces (the link emulators too) and deletes them (never
    /// throws).
    func destroy() {
        for host in hosts { NetworkNamespaces.remove(namespace: namespace(host)) }
        NetworkNamespaces.remove(namespace: bridgeNamespace)
    }
}

/// A coordinator, workers and clients as `flowpool` processes on the hosts of a ``HostNetwork``, every socket
/// with CURVE keys (a ``LocalKeySet``), peers reaching the coordinator only by its host's address.
final class NamespacedPool: Sendable {
    typealias Host = NetworkNamespaces.Host

    let network: HostNetwork
    let directory: String
    let keys: LocalKeySet
    let coordinator: PoolProcess
    /// The control endpoint, `tcp://198.18.0.1:PORT`.
    let control: String
    private let processes = Mutex<[PoolProcess]>([])
    private let counter = Atomic<Int>(0)

    private init(network: HostNetwork, directory: String, keys: LocalKeySet, coordinator: PoolProcess, control: String)
    {
        self.network = network
        self.directory = directory
        self.keys = keys
        self.coordinator = coordinator
        self.control = control
    }

    /// Makes the network, starts the coordinator on its host and a worker (`--worker-id` its host's role) on each
    /// worker host, runs `body`, then stops every process and removes the network, whatever happened.
    static func with(
        workers: [Host] = [.worker1, .worker2],
        workerArguments: [String] = ["--concurrency", "64"],
        coordinatorArguments: [String] = [],
        impairment: LinkImpairment? = nil,
        _ body: (NamespacedPool) async throws -> Void
    ) async throws {
        #expect(FileManager.default.isExecutableFile(atPath: PoolHarness.executable), "flowpool not built")
        let directory =
            NSTemporaryDirectory() + "\(NetworkNamespaces.namePrefix)\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let network: HostNetwork
        do {
            network = try await HostNetwork.create(impairment: impairment, directory: directory)
        } catch {
            PoolHarness.dumpLogs(directory)
            throw error
        }
        var pool: NamespacedPool?
        var coordinator: PoolProcess?
        do {
            let keys = try LocalKeySet(directory: "\(directory)/keys")
            let endpointsFile = "\(directory)/endpoints.json"
            let process = try PoolProcess(
                name: "coordinator",
                arguments: [
                    "coordinator", "--bind-host", Host.coordinator.address, "--control-port", "0",
                    "--worker-port", "0", "--events-in-port", "0", "--events-out-port", "0",
                    "--endpoints-file", endpointsFile, "--heartbeat-timeout-ms", "2000", "--log-level", "warning",
                ] + keys.coordinatorArguments + coordinatorArguments,
                directory: directory,
                launcher: network.launcher(.coordinator)
            )
            coordinator = process
            let endpoints = try await PoolHarness.waitForFile(endpointsFile, process: process, seconds: 30)
            let control = try #require(endpoints["control"]?.stringValue)
            #expect(control.contains(Host.coordinator.address), "control endpoint \(control)")
            let p = NamespacedPool(
                network: network,
                directory: directory,
                keys: keys,
                coordinator: process,
                control: control
            )
            pool = p
            for host in workers { _ = try p.startWorker(on: host, arguments: workerArguments) }
            try await p.until(seconds: 30, "\(workers.count) workers registered") {
                try await p.status()["workers"]?.arrayValue?.count == workers.count
            }
            try await body(p)
        } catch {
            await teardown(pool, coordinator, network)
            PoolHarness.dumpLogs(directory)
            throw error
        }
        await teardown(pool, coordinator, network)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func teardown(_ pool: NamespacedPool?, _ coordinator: PoolProcess?, _ network: HostNetwork) async {
        for p in pool?.started ?? [] { await p.stop(grace: 5) }
        await coordinator?.stop(grace: 5)
        network.destroy()
    }

    /// Every process started through this pool other than the coordinator.
    var started: [PoolProcess] { processes.withLock { $0 } }

    /// `--key-file` and `--coordinator-key` of the set's client key (every namespace).
    var clientKeyArguments: [String] {
        ["--key-file", "\(keys.directory)/client.key_secret", "--coordinator-key", "\(keys.directory)/coordinator.key"]
    }

    /// Starts `flowpool ARGUMENTS` in `host`'s namespace.
    func flowpool(_ name: String, on host: Host, _ arguments: [String]) throws -> PoolProcess {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let process = try PoolProcess(
            name: "\(name)-\(n)",
            arguments: arguments,
            directory: directory,
            launcher: network.launcher(host)
        )
        processes.withLock { $0.append(process) }
        return process
    }

    /// Starts a worker on `host` whose id is the host's role.
    func startWorker(on host: Host, arguments: [String] = ["--concurrency", "64"]) throws -> PoolProcess {
        try flowpool(
            "worker-\(host.role)",
            on: host,
            [
                "worker", "--coordinator", control, "--worker-id", host.role, "--heartbeat-ms", "100",
                "--log-level", "warning",
            ] + keys.workerArguments + arguments
        )
    }

    /// The coordinator's status, asked by `flowpool status --json` on the coordinator's host (which reaches its own
    /// address while its link is cut).
    func status(seconds: Double = 20) async throws -> JSONValue {
        let p = try flowpool(
            "status",
            on: .coordinator,
            ["status", "--json", "--coordinator", control, "--log-level", "error"] + clientKeyArguments
        )
        guard let code = await p.waitForExit(seconds: seconds) else {
            await p.stop(grace: 1)
            throw HarnessError("flowpool status did not answer within \(seconds) s")
        }
        guard code == 0 else { throw HarnessError("flowpool status exited \(code): \(p.stderr)") }
        let text = p.stdout
        forget(p)
        return try JSONValue(wireText: text.trimmed)
    }

    /// A counter of the status.
    func counter(_ name: String) async throws -> Int {
        try await status()["counters"]?[name]?.intValue ?? 0
    }

    /// The status's entry of the worker whose id is `host`'s role, if it is registered.
    func worker(on host: Host) async throws -> JSONValue? {
        try await status()["workers"]?.arrayValue?.first { $0["id"]?.stringValue == host.role }
    }

    /// Drops a finished process from the list to stop, and its output files.
    private func forget(_ process: PoolProcess) {
        processes.withLock { $0.removeAll { $0 === process } }
        try? FileManager.default.removeItem(atPath: process.stdoutPath)
        try? FileManager.default.removeItem(atPath: process.stderrPath)
    }

    /// Polls `condition` until it holds or `seconds` pass.
    func until(seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out after \(seconds) s waiting for \(what)")
    }

    // MARK: Load

    /// A `flowpool bench load` against this pool, running on a host.
    struct Load: Sendable {
        let process: PoolProcess
        let reportPath: String
    }

    /// The load harness's outcome: exit status, table, JSON report (its first phase for convenience).
    struct LoadOutcome: Sendable {
        let status: Int32
        let table: String
        let report: JSONValue
        var phase: JSONValue { report["phases"]?.arrayValue?.first ?? .null }
    }

    /// Starts `flowpool bench load` (flowpool-bench) on `host` against this pool, with the client key, one
    /// subscriber of its own, no warm-up and no transport baseline, plus `arguments`.
    func startLoad(on host: Host = .subscriber, _ arguments: [String]) throws -> Load {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let reportPath = "\(directory)/load-\(n).json"
        let process = try flowpool(
            "load",
            on: host,
            [
                "bench", "load", "--coordinator", control, "--quiet", "--json-out", reportPath,
                "--baseline-messages", "0", "--warmup", "0", "--subscribers", "1",
            ] + clientKeyArguments + arguments
        )
        return Load(process: process, reportPath: reportPath)
    }

    /// Waits for a load started by ``startLoad(on:_:)`` (stopping it after `seconds`) and reads its report.
    func finish(_ load: Load, seconds: Double) async throws -> LoadOutcome {
        let status = await load.process.waitForExit(seconds: seconds)
        if status == nil { await load.process.stop(grace: 5) }
        try #require(status != nil, "the load did not finish within \(seconds) s:\n\(load.process.stderr.suffix(3000))")
        let data = try #require(
            FileManager.default.contents(atPath: load.reportPath),
            "no load report (exit \(status ?? -1)):\n\(load.process.stdout)\n\(load.process.stderr.suffix(3000))"
        )
        return LoadOutcome(
            status: status ?? -1,
            table: load.process.stdout,
            report: try JSONValue(wireBytes: Array(data))
        )
    }
}

/// Runs short commands (`ip`) to completion.
enum Command {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `program ARGUMENTS` and waits for it (its output must be small: it is read after it exits).
    static func run(_ program: String, _ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
