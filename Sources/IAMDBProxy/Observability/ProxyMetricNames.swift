/// The names of the metrics recorded as events happen, and their help texts, in one place.
extension ProxyMetrics {
    static let reloads = "iam_db_proxy_config_reloads_total"
    static let connectionsOpened = "iam_db_proxy_connections_opened_total"
    static let handshakeDuration = "iam_db_proxy_handshake_duration_seconds"
    static let sessionDuration = "iam_db_proxy_session_duration_seconds"
    static let tokenRetries = "iam_db_proxy_token_retries_total"
    /// Label values counted from zero, so a rate() alert has a series before the first event.
    static let loginFailureClasses = ["allow_list", "token_refused", "credentials", "upstream", "limit", "protocol", "other"]
    static let upstreamFailureReasons = ["connect", "tls", "timeout", "closed"]
    static let loginFailures = "iam_db_proxy_login_failures_total"
    static let upstreamFailures = "iam_db_proxy_upstream_failures_total"
    static let throttledLogins = "iam_db_proxy_login_throttled_total"
    static let staleDNSRetries = "iam_db_proxy_stale_dns_retries_total"
    static let topologyChanges = "iam_db_proxy_topology_changes_total"
    static let failoverDetection = "iam_db_proxy_failover_detection_seconds"
    static let failoverSessionsClosed = "iam_db_proxy_failover_sessions_ended_total"
    static let reuseHandouts = "iam_db_proxy_session_reuse_handouts_total"
    static let reuseResets = "iam_db_proxy_session_reuse_resets_total"
    static let reuseDiscards = "iam_db_proxy_session_reuse_discards_total"
    static let reuseWarmFailures = "iam_db_proxy_session_reuse_warm_login_failures_total"

    /// Help texts of the metrics recorded as events happen (so they show before the first).
    static let recordedHelp: [String: (type: String, help: String)] = [
        connectionsOpened: ("counter", "Client connections accepted."),
        handshakeDuration: ("histogram", "Seconds from accepting a client to relaying (login included)."),
        sessionDuration: ("histogram", "Seconds from login to close, of sessions that logged in."),
        tokenRetries: ("counter", "Logins (and KILL side logins) retried with a fresh token after the server refused a cached one."),
        loginFailures: ("counter", "Sessions that ended before relaying, by class: allow_list, token_refused, credentials, upstream, limit, protocol, other."),
        upstreamFailures: ("counter", "Upstream connection problems during login, by reason: connect, tls, timeout, closed."),
        reloads: ("counter", "Configuration reloads (SIGHUP), by result: ok or failed."),
        throttledLogins: ("counter", "Logins the server throttled (too many IAM authentications at once), by outcome: retried (after a jittered backoff) or gave_up (no time left in handshake_timeout; the client got the server's error)."),
        staleDNSRetries: ("counter", "Logins of writer listeners that reached a read-only standby (a stale DNS answer), by outcome: retried (on a new connection, the name resolved afresh) or gave_up (no time left in handshake_timeout)."),
        topologyChanges: ("counter", "Changes in the Aurora topology of listeners that follow one, by kind: writer (a failover or switchover) or readers."),
        failoverDetection: ("histogram", "Seconds from the first doubt about the writer (a dropped monitoring session, a failed connect) to the new writer confirmed."),
        failoverSessionsClosed: ("counter", "Client sessions ended (57P01 / ERR 1053 at a message boundary) because their instance stopped being the writer."),
        reuseHandouts: ("counter", "Logged-in sessions of session_reuse listeners, by source: warm (logged in ahead of time), parked (reset after an earlier client) or login (logged in for the client)."),
        reuseResets: ("counter", "Resets (DISCARD ALL) of upstream sessions whose client ended cleanly, by result: ok or failed."),
        reuseWarmFailures: ("counter", "Logins of warm sessions (min_idle) that failed; the next for that key and event loop waits 5 s."),
        reuseDiscards: ("counter", "Upstream sessions of session_reuse listeners closed instead of serving another client, by reason."),
    ]

    /// The class of a login failure from the SQLSTATE sent to the client (PostgreSQL or MySQL).
    /// `dialed`: the upstream had been dialed (an authentication refusal then came from the
    /// server, not from the listener's allow-list); `noCredentials`: no password could be made.
    static func loginFailureClass(sqlState: String, dialed: Bool, noCredentials: Bool) -> String {
        if noCredentials { return "credentials" }
        return switch sqlState {
        case _ where sqlState.hasPrefix("28"): dialed ? "token_refused" : "allow_list"
        case "53300", "08004": "limit"
        case "08P01", "08S01": "protocol"
        case _ where sqlState.hasPrefix("08"), "HY000": "upstream"
        default: "other"
        }
    }
}
