import Logging
import NIOCore

/// What every session keeps about itself, whatever the engine: its log metadata, when it
/// opened, its place in the connection limits, the login deadline, and the relay's byte
/// counts, so the one line logged at the end is the same for PostgreSQL and MySQL.
struct SessionRecord {
    let runtime: ListenerRuntime
    var logger: Logger
    private(set) var openedAt = NIODeadline.now()
    /// Why the session ended early (logged as `error`), if it did.
    var failure: String?
    /// No password could be made for the login (no credentials, or the source failed).
    var noCredentials = false
    /// What the operator can do about how the connection ended, when the engine can tell.
    var hint: String?
    /// What the connection was, when not a session (`cancel` for a PostgreSQL CancelRequest).
    var kind: String?
    var glue: (client: GlueHandler, upstream: GlueHandler)?
    /// Message counts of both directions, when trace logging is on.
    var wireSummaries: WireSummaries?
    private var loginTimer: Scheduled<Void>?

    init(runtime: ListenerRuntime) {
        self.runtime = runtime
        logger = runtime.logger
    }

    var elapsedMilliseconds: Int64 { (NIODeadline.now() - openedAt).nanoseconds / 1_000_000 }

    /// Counts the session in; false when a connection limit is exceeded. `onTimeout` runs if
    /// the session is not relaying after the listener's handshake timeout.
    mutating func opened(_ context: ChannelHandlerContext, onTimeout: @escaping @Sendable () -> Void) -> Bool {
        openedAt = .now()
        logger[metadataKey: "conn"] = "\(runtime.makeConnectionID())"
        logger[metadataKey: "client"] = "\(context.remoteAddress?.logDescription ?? "?")"
        loginTimer = context.eventLoop.scheduleTask(in: runtime.handshakeTimeout, onTimeout)
        runtime.metrics.increment(ProxyMetrics.connectionsOpened, [("listener", runtime.configuration.name)])
        guard runtime.sessionOpened(context.channel) else {
            logger.warning("max_connections reached; refusing the session once it has said who it is")
            return false
        }
        return true
    }

    /// `authentication`: how the server checked the password (`SCRAM-SHA-256-PLUS`, `caching_sha2_password`, …).
    mutating func relaying(_ glue: (client: GlueHandler, upstream: GlueHandler), user: String, database: String, authentication: String?) {
        loginTimer?.cancel()
        self.glue = glue
        runtime.metrics.observe(ProxyMetrics.handshakeDuration, [("listener", runtime.configuration.name)],
                                seconds: Double((NIODeadline.now() - openedAt).nanoseconds) / 1e9)
        logger[metadataKey: "user"] = "\(user)"
        logger[metadataKey: "db"] = "\(database)"
        logger.info("session logged in", metadata: ["duration_ms": "\(elapsedMilliseconds)", "auth": "\(authentication ?? "none")"])
        runtime.noteLogin(user: user, database: database)
    }

    /// The session ends before relaying with an error carrying `sqlState` for the client.
    /// `dialed` and `noCredentials` tell the listener's own refusals from the server's and from missing credentials.
    func loginFailed(sqlState: String, dialed: Bool, noCredentials: Bool) {
        runtime.metrics.increment(ProxyMetrics.loginFailures, [
            ("listener", runtime.configuration.name), ("class", ProxyMetrics.loginFailureClass(sqlState: sqlState, dialed: dialed, noCredentials: noCredentials)),
        ])
    }

    mutating func upstreamChosen(_ address: SocketAddress?) {
        logger[metadataKey: "upstream"] = "\(address?.logDescription ?? runtime.resolver.endpoint.description)"
        logger.debug("upstream connected")
    }

    func ended(_ channel: any Channel) {
        loginTimer?.cancel()
        runtime.sessionClosed(channel)
        var metadata: Logger.Metadata = ["duration_ms": "\(elapsedMilliseconds)"]
        if let glue {
            runtime.metrics.observe(ProxyMetrics.sessionDuration, [("listener", runtime.configuration.name)],
                                    seconds: Double(elapsedMilliseconds) / 1000, buckets: ProxyMetrics.sessionBuckets)
            metadata["bytes_up"] = "\(glue.client.bytesRead)"
            metadata["bytes_down"] = "\(glue.upstream.bytesRead)"
        }
        if let failure { metadata["error"] = "\(failure)" }
        if let kind { metadata["kind"] = "\(kind)" }
        if let hint { metadata["hint"] = "\(hint)" }
        logger.info("connection closed", metadata: metadata)
        if let wireSummaries {
            logger.trace("wire summary", metadata: ["client": "\(wireSummaries.client.summary)", "server": "\(wireSummaries.server.summary)"])
        }
    }
}

extension SocketAddress {
    /// `127.0.0.1:5432` / `[::1]:5432`, for log lines.
    var logDescription: String {
        if case .unixDomainSocket = self { return pathname.map { $0.isEmpty ? "unix" : "unix:\($0)" } ?? "unix" }
        guard let ip = ipAddress, let port else { return "\(self)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
