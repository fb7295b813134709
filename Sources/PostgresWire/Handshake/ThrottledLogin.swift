/// Whether a PostgreSQL server's refusal of a login says it was throttled (too many IAM
/// authentications at once) rather than refused: then the same login, a little later, succeeds.
/// From AWS's documented messages: RDS Proxy's "The IAM authentication failed because of too
/// many competing requests." and "Rate of connection to proxy exceeded N.", and RDS's "rate
/// exceeded" wording. Matched case-insensitively on the message; the SQLSTATE is not documented.
public enum ThrottledLogin {
    static let phrases = ["too many competing requests", "rate of connection to proxy exceeded", "rate exceeded"]

    public static func isThrottle(_ error: ErrorResponse?) -> Bool {
        guard let message = error?.fields[ErrorResponse.messageField]?.lowercased() else { return false }
        return phrases.contains { message.contains($0) }
    }
}
