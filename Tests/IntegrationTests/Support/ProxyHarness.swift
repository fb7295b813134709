import TestSupport
import Foundation
import Testing
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The real `iam-db-proxy` executable, started with a YAML configuration written by the test,
/// one listener (PostgreSQL unless `engine` says mysql) on a free loopback port pointed at the
/// local RDS-like server, and
/// credentials from a chosen test identity. Its log (standard error) is collected.
final class ProxyHarness: Sendable {
    let port: Int
    let logs: LogCollector
    let configurationFile: String
    private let process: Process

    static var executable: String { TokenCommandTests.executable }

    static func start(
        _ env: TestEnvironment, identity: TestEnvironment.Identity?, extraEnvironment: [String: String] = [:], listenerYAML: String = "",
        upstream: String? = nil, trustTestCA: Bool = true, serverName: String? = nil, topYAML: String = "",
        engine: String = "postgres", listen: String? = nil, openFileLimit: Int? = nil, moreListenersYAML: String = "",
        defaultDrain: Bool = false, unprivileged: Bool = false
    ) async throws -> ProxyHarness {
        let defaultUpstream = "localhost:\(engine == "mysql" ? env.mysql.port : env.postgres.port)"
        let port = try await freePort()
        let folder = NSTemporaryDirectory() + "iam-db-proxy-harness-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let configurationFile = folder + "/proxy.yaml"
        // A test's proxy stops at once unless the test is about draining (the default drain waits 25 s).
        let drain = defaultDrain || topYAML.contains("max_sigterm_delay") ? "" : "max_sigterm_delay: 0"
        let yaml = """
            \(topYAML)
            \(drain)
            listeners:
              - name: \(engine == "mysql" ? "my" : "pg")
                engine: \(engine)
                listen: \(listen ?? "127.0.0.1:\(port)")
                upstream: \(upstream ?? defaultUpstream)
                iam_region: \(env.region)
                tls:
                  mode: verify-full
            \(trustTestCA ? "      ca_file: \(env.ca_file)" : "")
            \(serverName.map { "      server_name: \($0)" } ?? "")
            \(listenerYAML.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            \(moreListenersYAML.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            """
        try yaml.write(toFile: configurationFile, atomically: true, encoding: .utf8)
        var variables = ["HOME": folder, "PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"]
        if let identity {
            variables["AWS_ACCESS_KEY_ID"] = identity.access_key_id
            variables["AWS_SECRET_ACCESS_KEY"] = identity.secret_access_key
            variables["AWS_SESSION_TOKEN"] = identity.session_token
        }
        variables.merge(extraEnvironment) { $1 }
        let logs = LogCollector()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: signalResettingLauncher[0])
        // A low descriptor limit (soft and hard) is set with prlimit, so the proxy cannot raise it.
        let limit = openFileLimit.map { ["/usr/bin/prlimit", "--nofile=\($0):\($0)", "--"] } ?? []
        // As a container's numeric non-root user would run it (the tests themselves run as root in CI).
        let user = unprivileged && getuid() == 0 ? ["/usr/sbin/chroot", "--userspec=65532:65532", "/"] : []
        if !user.isEmpty { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder) }
        process.arguments = Array(signalResettingLauncher.dropFirst()) + limit + user + [executable, "--config", configurationFile]
        process.environment = variables
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        // A plain reader thread: FileHandle.readabilityHandler is crash-prone on Linux.
        let reader = Thread {
            let handle = stderr.fileHandleForReading
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                logs.append(data)
            }
            logs.finish()
        }
        reader.start()
        let harness = ProxyHarness(port: port, logs: logs, configurationFile: configurationFile, process: process)
        guard await logs.waitFor("listening") else {
            harness.stop()
            throw HarnessError(description: "the proxy did not start:\n\(logs.text)")
        }
        return harness
    }

    private init(port: Int, logs: LogCollector, configurationFile: String, process: Process) {
        self.port = port
        self.logs = logs
        self.configurationFile = configurationFile
        self.process = process
    }

    /// Sends SIGTERM, as an orchestrator does, without waiting.
    func sendSIGTERM() { process.terminate() }

    /// Sends SIGHUP (reload the configuration file), without waiting.
    func sendSIGHUP() { kill(process.processIdentifier, SIGHUP) }

    /// Waits for the proxy to exit; returns its exit status.
    func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// What must never reach a log line: an IAM token's signature, and the tests' Secrets
    /// Manager passwords (every one carries one of these markers).
    static let secretMarkers = ["X-Amz-Signature=", "Pa55", "-Sha2"]

    /// Stops the proxy; every test's log is checked for secrets here, at whatever level it ran.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        let text = logs.text
        for marker in Self.secretMarkers where text.contains(marker) {
            Issue.record("a secret (\(marker)…) reached the proxy's log:\n\(text)")
        }
    }

    /// psql through the proxy in plaintext, with no password unless given.
    func psql(_ env: TestEnvironment, user: String? = nil, password: String? = nil, options: String = "", _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password
        if password == nil { environment.removeValue(forKey: "PGPASSWORD") }
        environment["PGCONNECT_TIMEOUT"] = "20"
        return try runProcess("/usr/bin/psql", [
            "host=127.0.0.1 port=\(port) dbname=\(env.postgres.database) user=\(user ?? env.postgres.iam_user) sslmode=disable \(options)",
            "-XAtq", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
        ] + arguments, environment: environment)
    }

    /// A loopback port nobody listens on right now.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
}

/// Collects a process's log output and lets a test await a line.
final class LogCollector: Sendable {
    private struct State {
        var text = ""
        var finished = false
        var waiters: [(UUID, String, Int, CheckedContinuation<Bool, Never>)] = []
    }

    private let state = NIOLockedValueBox(State())

    var text: String { state.withLockedValue { $0.text } }

    func append(_ data: Data) {
        let ready = state.withLockedValue { state -> [CheckedContinuation<Bool, Never>] in
            state.text += String(decoding: data, as: UTF8.self)
            let text = state.text
            let (met, waiting) = state.waiters.reduce(into: ([CheckedContinuation<Bool, Never>](), [(UUID, String, Int, CheckedContinuation<Bool, Never>)]())) { result, waiter in
                if Self.count(waiter.1, in: text) >= waiter.2 { result.0.append(waiter.3) } else { result.1.append(waiter) }
            }
            state.waiters = waiting
            return met
        }
        ready.forEach { $0.resume(returning: true) }
    }

    func finish() {
        let waiting = state.withLockedValue { state -> [CheckedContinuation<Bool, Never>] in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters.map(\.3)
        }
        waiting.forEach { $0.resume(returning: false) }
    }

    /// How many times `needle` is in the log so far.
    func count(_ needle: String) -> Int { Self.count(needle, in: text) }

    static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// True once `needle` appears in the log (`occurrences` times); false if the process ends or `timeout` passes first.
    func waitFor(_ needle: String, occurrences: Int = 1, timeout: TimeInterval = 30) async -> Bool {
        let id = UUID()
        return await withCheckedContinuation { continuation in
            let answer: Bool? = state.withLockedValue { state in
                if Self.count(needle, in: state.text) >= occurrences { return true }
                if state.finished { return false }
                state.waiters.append((id, needle, occurrences, continuation))
                return nil
            }
            if let answer {
                continuation.resume(returning: answer)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [state] in
                let expired = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.0 == id }) else { return nil }
                    return state.waiters.remove(at: index).3
                }
                expired?.resume(returning: false)
            }
        }
    }
}
