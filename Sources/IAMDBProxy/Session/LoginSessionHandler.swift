import Logging
import NIOCore

/// A client session handler during login, for either engine: the engine supplies its machine
/// and how to perform the machine's actions; the shared part here connects the upstream link
/// and the listener's credential source to the machine, ends a failed login (counting its typed SQLSTATE), and
/// hands a logged-in session to the relay.
protocol LoginSessionHandler: ChannelInboundHandler, UpstreamLinkDelegate, SendableMetatype where OutboundOut == ByteBuffer {
    associatedtype Machine: LoginMachine

    var runtime: ListenerRuntime { get }
    var machine: Machine { get set }
    var record: SessionRecord { get set }
    var context: ChannelHandlerContext? { get set }
    var upstream: UpstreamLink? { get set }
    var clientBuffer: ByteBuffer { get set }
    var upstreamBuffer: ByteBuffer { get set }
    /// The password offered last (a refusal of a cached one forgets it and retries).
    var password: LoginPassword? { get set }
    /// The backoff of a login tried again (throttled, or on a read-only server).
    var retryBackoff: LoginBackoff { get set }
    /// The engine's reset of a session parked after its client (session reuse).
    associatedtype Reset: SessionReset
    /// With `session_reuse`: this client's turn with its upstream session.
    var reuse: ReuseTurn? { get set }
    /// The parked session this client was given, instead of a login of its own.
    var handedOut: Machine.LoggedInSession? { get set }

    func perform(_ actions: [Machine.Action])
    /// The listener's handshake timeout passed before the session was relaying.
    func handshakeTimedOut()
    /// Engine bookkeeping to undo when the client connection closes (cancel keys, KILL ids).
    func forgetSession()
    /// Observers that count this engine's messages, for the trace-level wire summary.
    func makeWireSummaries() -> WireSummaries
    /// Follows the server's messages so a shutdown can end the session with the engine's error.
    func makeServerStream() -> any ServerStreamEnding
    /// What a failed login's reason most likely means, from the engine's table of server messages.
    static func likelyCause(of reason: String) -> String?
}

extension LoginSessionHandler {
    var loopBound: NIOLoopBound<Self> { NIOLoopBound(self, eventLoop: context!.eventLoop) }
    var logger: Logger { record.logger }

    /// For `handlerAdded`: keeps the context and makes the upstream link.
    func attach(_ context: ChannelHandlerContext) {
        self.context = context
        let link = UpstreamLink(dial: runtime.upstreamDial, eventLoop: context.eventLoop)
        link.delegate = self
        upstream = link
    }

    /// For `handlerRemoved`: lets go of the context. The context holds this handler, so
    /// keeping it would keep both — and the pipeline — alive after the connection closed
    /// (~1.7 KiB per connection that never came back).
    func detach() {
        context = nil
    }

    /// For `channelActive`: counts the session in, arms the login timer and the close
    /// bookkeeping; false when a connection limit is exceeded.
    func begin(_ context: ChannelHandlerContext) -> Bool {
        let session = loopBound
        let withinLimits = record.opened(context, onTimeout: { session.value.handshakeTimedOut() })
        let channel = context.channel
        channel.closeFuture.whenComplete { _ in session.value.sessionEnded(channel) }
        return withinLimits
    }

    /// Puts TLS in front of the client connection (when the listener has `client_tls`); on
    /// failure ends the session. Says whether TLS is in place.
    func startClientTLS(_ context: ChannelHandlerContext) -> Bool {
        guard let clientTLS = runtime.clientTLS else { return false }
        do {
            try clientTLS.install(in: context.pipeline)
            return true
        } catch {
            finish(error: nil, reason: "cannot start client TLS: \(error)")
            return false
        }
    }

    /// A login failure is being reported; later client bytes are dropped unread.
    var isFinishing: Bool { record.failure != nil }

    /// Ends the session: `error` (if any) goes to the client first, its `sqlState` is counted;
    /// `reason` is logged.
    func finish(error: ByteBuffer?, sqlState: String? = nil, reason: String) {
        guard let context, !isFinishing else { return }
        record.failure = reason
        let dialed = (upstream?.attempt ?? 0) > 0
        // What the client sent can no longer matter; do not keep it while the error drains.
        clientBuffer = ByteBuffer()
        upstream?.close()
        let channel = context.channel
        guard let error else {
            channel.close(promise: nil)
            return
        }
        if let sqlState {
            record.loginFailed(sqlState: sqlState, dialed: dialed, noCredentials: record.noCredentials)
            // Everything needed to compare with the IAM policy and the grants, never the token.
            var metadata = password?.logMetadata ?? [:]
            metadata["sqlstate"] = "\(sqlState)"
            metadata["user"] = "\(machine.user)"
            metadata["db"] = "\(machine.database)"
            metadata["upstream"] = "\(upstream?.target ?? runtime.resolver.endpoint)"
            metadata["reason"] = "\(reason)"
            if let cause = Self.likelyCause(of: reason) { metadata["likely_cause"] = "\(cause)" }
            logger.warning("login failed", metadata: metadata)
        }
        context.writeAndFlush(NIOAny(error)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Dials the upstream and gets a password for `user`, both at once.
    func connectUpstream(user: String) {
        logger.debug("dialing the upstream and getting a password", metadata: [
            "user": "\(user)", "upstream": "\(runtime.resolver.endpoint)", "attempt": "\((upstream?.attempt ?? 0) + 1)",
        ])
        let session = loopBound
        upstream?.connect(targetChosen: { target in
            if let channel = session.value.context?.channel { session.value.runtime.resolver.sessionChose(channel, target) }
            session.value.fetchPassword(user: user, at: target)
        })
    }

    /// A cached password was refused: forget it (and its credentials), and log in again.
    func retryWithFreshToken(user: String) {
        if case .secret = runtime.configuration.auth {
            logger.info("the secret's password was refused (a rotation?); retrying once with the secret read again")
        } else {
            logger.info("cached token refused; retrying once with a fresh token")
        }
        runtime.metrics.increment(ProxyMetrics.tokenRetries, [("listener", runtime.configuration.name)])
        password?.forget()
        upstreamBuffer.clear()
        connectUpstream(user: user)
    }

    /// The login must be tried again (`cause`): true when another attempt, on a new connection
    /// that resolves the name afresh, is scheduled after a jittered backoff that fits in the
    /// handshake timeout (the caller otherwise ends the login with the server's error). Counted
    /// either way.
    func retryLater(user: String, because cause: LoginRetryCause) -> Bool {
        guard let context else { return false }
        let listener = runtime.configuration.name
        guard let delay = retryBackoff.nextDelay(now: .now(), deadline: record.openedAt + runtime.handshakeTimeout, random: .random(in: 0...1)) else {
            runtime.metrics.increment(cause.metric, [("listener", listener), ("outcome", "gave_up")])
            return false
        }
        runtime.metrics.increment(cause.metric, [("listener", listener), ("outcome", "retried")])
        logger.info("\(cause.logLine)", metadata: ["delay_ms": "\(delay.nanoseconds / 1_000_000)", "retry": "\(retryBackoff.retries)"])
        upstream?.close()
        upstreamBuffer.clear()
        let session = loopBound
        context.eventLoop.scheduleTask(in: delay) {
            guard !session.value.isFinishing, session.value.context != nil else { return }
            session.value.connectUpstream(user: user)
        }
        return true
    }

    private func fetchPassword(user: String, at target: HostAndPort) {
        guard let context, let upstream else { return }
        let session = loopBound
        let attempt = upstream.attempt
        runtime.fetchPassword(user: user, at: target, on: context.eventLoop) { result in session.value.passwordArrived(result, attempt: attempt) }
    }

    private func passwordArrived(_ result: Result<LoginPassword, any Error>, attempt: Int) {
        guard attempt == upstream?.attempt else { return }
        switch result {
        case .success(let password):
            // Which identity made it for what: enough to compare with the IAM policy, never the token.
            var metadata = password.logMetadata
            metadata["cached"] = "\(password.wasCached)"
            logger.debug("password ready", metadata: metadata)
            self.password = password
            perform(machine.tokenReady(password.secret, wasCached: password.wasCached))
        case .failure(let error):
            logger.debug("no password", metadata: ["error": "\(error)"])
            record.noCredentials = true
            let unavailable = error as? PasswordUnavailable
            perform(machine.tokenFailed(unavailable?.description ?? "could not get a password: \(error)", refusesUser: unavailable?.refusesUser ?? false))
        }
    }

    // MARK: UpstreamLinkDelegate

    func upstreamRead(_ bytes: ByteBuffer) {
        var bytes = bytes
        upstreamBuffer.writeBuffer(&bytes)
        perform(machine.upstreamBytes(&upstreamBuffer))
    }

    func upstreamTLSEstablished() {
        logger.debug("upstream TLS established", metadata: ["tls_version": "\(upstream?.tlsVersion.map { "\($0)" } ?? "?")"])
        perform(machine.upstreamTLSEstablished(serverCertificate: upstream?.peerCertificateDER))
    }

    func upstreamFailed(_ message: String, hint: String?) {
        guard !machine.isRelaying else { return }
        perform(machine.upstreamFailed(message, hint: hint))
    }

    // MARK: Relay and endings

    /// Hands the logged-in session to the relay, with `clientHandlers` in front of the client's glue
    /// and `observers` (an engine's session followers) just before each side's glue.
    @discardableResult
    func startRelaying(context: ChannelHandlerContext, clientHandlers: [any ChannelHandler] = [],
                       observers: (client: [any ChannelHandler], upstream: [any RemovableChannelHandler]) = ([], [])) -> RelayedSession? {
        let upstreamChannel: any Channel
        do {
            guard let channel = try upstream?.handOff() else { throw ChannelError.ioOnClosedChannel }
            upstreamChannel = channel
        } catch {
            finish(error: nil, reason: "cannot start relaying: \(error)")
            return nil
        }
        let pending = (client: clientBuffer, upstream: upstreamBuffer)
        clientBuffer = ByteBuffer()
        upstreamBuffer = ByteBuffer()
        // Off unless trace logging is on: then each direction's messages are counted and
        // summed up in one line when the session ends.
        let summaries = logger.logLevel <= .trace ? makeWireSummaries() : nil
        do {
            let relayed = try SessionRelay.start(
                client: context, upstream: upstreamChannel, pendingClientBytes: pending.client, pendingUpstreamBytes: pending.upstream,
                clientHandlers: clientHandlers, idleTimeoutSeconds: runtime.configuration.idleTimeoutSeconds,
                counters: (runtime.bytesUp, runtime.bytesDown),
                observers: ([summaries?.handlers.client].compactMap { $0 } + observers.client,
                            [summaries?.handlers.upstream].compactMap { $0 } + observers.upstream),
                serverStream: makeServerStream())
            record.wireSummaries = summaries
            record.relaying(relayed.glue, user: machine.user, database: machine.database, authentication: machine.authenticationMethod)
            return relayed
        } catch {
            finish(error: nil, reason: "cannot start relaying: \(error)")
            return nil
        }
    }

    /// For `.connectUpstream` with `session_reuse`: the client gets a parked session with its
    /// key, if one waits on this event loop, instead of a login (the loop's warm sessions for the
    /// key are topped up either way). False when the client is to log in.
    func handOutParkedSession(on eventLoop: any EventLoop) -> Bool {
        let pool = runtime.sessionPool
        guard pool.isOn, let key = machine.reuseKey else { return false }
        let turn = ReuseTurn(pool: pool, key: key.canonical, keyDescription: key.description)
        reuse = turn
        guard let parked = turn.takeParked(on: eventLoop, details: key.details, watcher: Reset.self),
            let session = parked.state as? Machine.LoggedInSession
        else { return false }
        upstream?.adopt(parked.channel)
        record.upstreamChosen(upstream?.address)
        logger.debug("handing out a parked session", metadata: ["uses": "\(turn.uses)"])
        handedOut = session
        perform(machine.handOut(session))
        return true
    }

    /// For `userInboundEventTriggered`: true (and the connection closing) when the event asks a
    /// session that is still logging in to end; a relaying one is ended by its glue.
    func endIfRequested(_ event: Any, context: ChannelHandlerContext) -> Bool {
        guard let request = event as? SessionEndRequest else { return false }
        // As a failed connect, with why: drivers and pools connect again, where a bare close
        // reads as a broken server.
        let reason = "closed before login finished: \(request.reason.summary)"
        let actions = machine.upstreamFailed(reason, hint: "Connect again.")
        guard actions.isEmpty else {
            perform(actions)
            return true
        }
        record.failure = record.failure ?? reason
        context.close(promise: nil)
        return true
    }

    /// A login that did not finish within the handshake timeout, once the client has said who it is.
    func loginTimedOut() {
        runtime.upstreamFailed(reason: "timeout")
        perform(machine.upstreamFailed(
            "login to \(upstream?.target ?? runtime.resolver.endpoint) did not finish within \(runtime.configuration.handshakeTimeoutSeconds) s", hint: nil))
    }

    private func sessionEnded(_ channel: any Channel) {
        runtime.resolver.sessionEnded(channel)
        upstream?.close()
        forgetSession()
        record.ended(channel)
    }
}

/// Why a login is tried again after a pause: the log line and the counter for each.
enum LoginRetryCause {
    case throttled, readOnly

    var logLine: String {
        switch self {
        case .throttled: "the server throttled the login (too many IAM logins at once); retrying"
        case .readOnly: "logged in to a read-only standby through a writer listener (stale DNS after a failover?); retrying"
        }
    }

    var metric: String {
        switch self {
        case .throttled: ProxyMetrics.throttledLogins
        case .readOnly: ProxyMetrics.staleDNSRetries
        }
    }
}
