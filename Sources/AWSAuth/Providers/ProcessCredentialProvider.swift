import Foundation

/// `credential_process`: runs the profile's command (split like botocore's `shlex.split`, no
/// shell) and reads a `Version: 1` JSON document from its standard output.
public struct ProcessCredentialProvider: CredentialProvider {
    public let name = "process"
    let command: String?
    let timeout: Duration

    public init(command: String?, timeout: Duration = .seconds(30)) {
        self.command = command
        self.timeout = timeout
    }

    public func credentials() async throws -> AWSCredentials {
        guard let command else {
            throw CredentialProviderError.notConfigured(provider: name, reason: "profile has no credential_process")
        }
        let arguments: [String]
        do {
            arguments = try CommandLineSplitting.split(command)
        } catch {
            throw CredentialProviderError.failed(provider: name, reason: "credential_process has an unbalanced quote")
        }
        guard let first = arguments.first, let executable = CommandLineSplitting.resolve(first, path: ProcessInfo.processInfo.environment["PATH"]) else {
            throw CredentialProviderError.failed(provider: name, reason: "credential_process names no program found on PATH")
        }
        let (status, output) = try await run(executable, Array(arguments.dropFirst()))
        guard status == 0 else {
            throw CredentialProviderError.failed(provider: name, reason: "credential_process exited with status \(status)")
        }
        let credentials = try CredentialDocument.credentials(from: output, provider: name)
        guard let version = try? JSONDecoder().decode(VersionOnly.self, from: Data(output.utf8)).version, version == 1 else {
            throw CredentialProviderError.failed(provider: name, reason: "credential_process output must have \"Version\": 1")
        }
        return credentials
    }

    private struct VersionOnly: Decodable {
        var version: Int?
        enum CodingKeys: String, CodingKey { case version = "Version" }
    }

    /// Runs the command on a thread of its own (reading a pipe to its end blocks, which must
    /// not happen on the concurrency pool) and gives up after `timeout`, even when a child of
    /// the command keeps the output pipe open. The thread clears its signal mask first: a child
    /// inherits the mask of the thread that spawns it, and Dispatch threads block signals, so a
    /// command started from one could not even be stopped by SIGTERM.
    private func run(_ executable: String, _ arguments: [String]) async throws -> (Int32, String) {
        let provider = name
        let timeout = self.timeout
        return try await withCheckedThrowingContinuation { continuation in
            let outcome = ResumeOnce(continuation)
            let thread = Thread {
                var none = sigset_t()
                sigemptyset(&none)
                pthread_sigmask(SIG_SETMASK, &none, nil)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                let stdout = Pipe()
                process.standardOutput = stdout
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    outcome.resume(throwing: CredentialProviderError.failed(provider: provider, reason: "cannot start credential_process: \(error)"))
                    return
                }
                let deadline = DispatchWorkItem {
                    // Report the timeout before stopping the process: once it is gone, the
                    // reading thread would otherwise race to report its exit status (15).
                    outcome.resume(throwing: CredentialProviderError.failed(provider: provider, reason: "credential_process did not finish within \(timeout)"))
                    if process.isRunning { process.terminate() }
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout.timeInterval, execute: deadline)
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                deadline.cancel()
                outcome.resume(returning: (process.terminationStatus, String(decoding: output, as: UTF8.self)))
            }
            thread.start()
        }
    }
}

/// Resumes a continuation exactly once, whichever of the process or its deadline finishes first.
private final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<(Int32, String), any Error>?

    init(_ continuation: CheckedContinuation<(Int32, String), any Error>) { self.continuation = continuation }

    func resume(returning value: (Int32, String)) { take()?.resume(returning: value) }
    func resume(throwing error: any Error) { take()?.resume(throwing: error) }

    private func take() -> CheckedContinuation<(Int32, String), any Error>? {
        lock.withLock {
            defer { continuation = nil }
            return continuation
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
