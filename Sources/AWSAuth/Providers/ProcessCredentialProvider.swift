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
        let output = try await run(executable, Array(arguments.dropFirst()))
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
    /// not happen on the concurrency pool) in a process group of its own, stopped whole after
    /// `timeout` (botocore has no timeout; a helper waiting for a browser login must not hang
    /// every new session).
    private func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let provider = name
        let timeout = self.timeout
        // HelperProcess.run returns only once the helper is gone, so each path resumes once.
        return try await withCheckedThrowingContinuation { outcome in
            Thread {
                do {
                    let result = try HelperProcess.run(executable, arguments, timeout: timeout.timeInterval)
                    guard result.status == 0 else {
                        let said = HelperProcess.describe(standardError: result.standardError)
                        outcome.resume(throwing: CredentialProviderError.failed(
                            provider: provider, reason: "credential_process exited with status \(result.status)" + (said.isEmpty ? "" : ": \(said)")))
                        return
                    }
                    outcome.resume(returning: String(decoding: result.standardOutput, as: UTF8.self))
                } catch is HelperProcess.TimedOut {
                    outcome.resume(throwing: CredentialProviderError.failed(
                        provider: provider, reason: "credential_process did not finish within \(timeout); it and the processes it started were stopped"))
                } catch {
                    outcome.resume(throwing: CredentialProviderError.failed(provider: provider, reason: "cannot start credential_process: \(error)"))
                }
            }.start()
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
