import Foundation

/// One set of AWS credentials. `description` never shows the secret or the session token, so
/// a credentials value can be logged or interpolated by mistake without leaking anything.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Empty strings are normalised to nil: SigV4 must then omit X-Amz-Security-Token entirely.
    public var sessionToken: String?
    /// nil for long-term credentials.
    public var expiration: Date?
    /// Which provider produced these credentials (for logs and error messages).
    public var source: String

    public init(
        accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil,
        expiration: Date? = nil, source: String = "static"
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = (sessionToken?.isEmpty ?? true) ? nil : sessionToken
        self.expiration = expiration
        self.source = source
    }

    public var isTemporary: Bool { expiration != nil || sessionToken != nil }

    /// True when the credentials are unusable at `date` once `margin` is kept in reserve.
    public func isExpired(at date: Date, margin: TimeInterval = 0) -> Bool {
        guard let expiration else { return false }
        return expiration.timeIntervalSince(date) <= margin
    }

    public var description: String {
        var text = "AWSCredentials(\(accessKeyID), source: \(source)"
        if let expiration { text += ", expires: \(expiration)" }
        return text + ", secret: <redacted>)"
    }
}
