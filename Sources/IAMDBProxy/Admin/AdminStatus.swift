/// The running proxy as the admin endpoints see it. A protocol, so the admin server knows
/// nothing of listeners or sessions (the server implements it).
protocol AdminStatus: Sendable {
    /// Every listener is bound (`/startup`).
    var isStarted: Bool { get }
    var isShuttingDown: Bool { get }
    /// Configured listeners that are not listening (a reload could not bind them).
    var unboundListeners: [String] { get }
    /// Why no new session could be served now because of `max_connections`, if so.
    var fullReason: String? { get }
    /// Listeners with fewer parked sessions than their `session_reuse.ready_min_idle`, in words, if any.
    var warmShortfall: String? { get }
    /// The Prometheus text for `/metrics`.
    func metricsExposition() -> String
    /// Unexpired AWS credentials are cached now (no call to the chain).
    var holdsCredentials: Bool { get }
    /// Throws why the AWS credentials chain cannot produce credentials now.
    func checkCredentials() async throws
    /// `POST /quitquitquit`: the graceful shutdown SIGTERM starts.
    func requestShutdown()
}
