/// A source of AWS credentials (one link of the chain).
public protocol CredentialProvider: Sendable {
    /// Short stable name used in logs, metrics and error messages (`environment`, `imds`, ...).
    var name: String { get }
    func credentials() async throws -> AWSCredentials
}

/// Why a provider produced no credentials.
public enum CredentialProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The provider does not apply here (no variables, no file, no endpoint): the chain goes on.
    case notConfigured(provider: String, reason: String)
    /// The provider applies but failed (bad answer, bad file, expired credentials): the chain
    /// stops here, as botocore does, so a broken configuration is reported instead of silently
    /// signing with some other identity.
    case failed(provider: String, reason: String)
    /// No provider of the chain applied; each says why.
    case noCredentials(attempts: [Attempt])

    public struct Attempt: Sendable, Equatable {
        public var provider: String
        public var reason: String
    }

    public var description: String {
        switch self {
        case .notConfigured(let provider, let reason): "\(provider): \(reason)"
        case .failed(let provider, let reason): "\(provider) credentials failed: \(reason)"
        case .noCredentials(let attempts):
            "no AWS credentials found; tried "
                + attempts.map { "\($0.provider) (\($0.reason))" }.joined(separator: ", ")
        }
    }
}
