/// Tries providers in order and returns the first credentials. A provider that does not apply
/// (`notConfigured`) passes to the next; one that applies and fails ends the chain with its error.
public struct CredentialChain: CredentialProvider {
    public let providers: [any CredentialProvider]
    /// Checked before any provider (botocore's ProfileNotFound comes before every provider).
    let precondition: (@Sendable () throws -> Void)?
    public var name: String { "chain" }

    public init(_ providers: [any CredentialProvider], precondition: (@Sendable () throws -> Void)? = nil) {
        self.providers = providers
        self.precondition = precondition
    }

    public func credentials() async throws -> AWSCredentials {
        try precondition?()
        var attempts: [CredentialProviderError.Attempt] = []
        for provider in providers {
            do {
                return try await provider.credentials()
            } catch CredentialProviderError.notConfigured(let name, let reason) {
                attempts.append(.init(provider: name, reason: reason))
            }
        }
        throw CredentialProviderError.noCredentials(attempts: attempts)
    }
}
