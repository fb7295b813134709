/// Whether a MySQL server's refusal of a login says it was throttled (too many IAM
/// authentications, or connections, at once) rather than refused. From AWS's documented RDS
/// Proxy errors: `ERROR 1040 (HY000): IAM authentication rate limit exceeded` and
/// `ERROR 1040 (HY000): Connections rate limit exceeded (N)`; a plain 1040 "Too many
/// connections" is the server's max_connections, which waiting briefly does not cure.
public enum MySQLThrottledLogin {
    public static func isThrottle(_ error: ErrorPacket) -> Bool {
        error.code == 1040 && error.message.lowercased().contains("rate limit exceeded")
    }
}
