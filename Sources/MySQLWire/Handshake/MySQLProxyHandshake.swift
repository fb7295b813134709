import NIOCore

/// The proxy's MySQL connection phase as a pure state machine. The proxy greets the client
/// itself (so a client that leaves early never reaches the server), reads its
/// HandshakeResponse41 (after TLS if asked), then runs a `MySQLUpstreamLogin` with the
/// client's choices and a token, and hands the server's OK or ERR back on the client's leg.
public struct MySQLProxyHandshake: Sendable {
    public struct Configuration: Sendable {
        /// What the client is told about the server: learned from the upstream.
        public var greeting: ServerGreeting
        public var clientTLSAvailable: Bool
        public var allowedUsers: Set<String>?
        /// The listener is full: the client gets 1040 once it has answered the greeting
        /// (the first moment an ERR packet can carry a SQLSTATE).
        public var tooManyConnections: Bool
        public var listenerName: String
        /// What the upstream login answers the server with.
        public var credential: MySQLUpstreamLogin.Credential
        /// Sessions may serve later clients: CLIENT_DEPRECATE_EOF is not offered, so the
        /// relay can tell where each response ends (`MySQLSessionReuseTracker`).
        public var reusesSessions = false
        /// The stale-DNS guard of a writer listener: before the client gets the server's OK, the
        /// server must say it is not read-only (`MySQLWritableCheck`).
        public var checksWritable = false

        public init(greeting: ServerGreeting, clientTLSAvailable: Bool = false, allowedUsers: Set<String>? = nil,
                    tooManyConnections: Bool = false, listenerName: String = "mysql", credential: MySQLUpstreamLogin.Credential = .iamToken) {
            self.credential = credential
            self.greeting = greeting
            self.clientTLSAvailable = clientTLSAvailable
            self.allowedUsers = allowedUsers
            self.tooManyConnections = tooManyConnections
            self.listenerName = listenerName
        }
    }

    public enum Action: Sendable, Equatable {
        case sendToClient(ByteBuffer)
        /// Begin the TLS server handshake on the client connection.
        case acceptClientTLS
        /// Dial the upstream and get a token for `user`, both at once.
        case connectUpstream(user: String)
        case sendToUpstream(ByteBuffer)
        case startUpstreamTLS
        case learnedGreeting(ServerGreeting)
        /// A cached token was refused: drop it, close this upstream connection, start again.
        case retryWithFreshToken(user: String)
        /// Logged in to a read-only server through a writer listener (a stale DNS answer): close
        /// this upstream connection and start again, if the handshake timeout leaves room, else end with `failure`.
        case retryReadOnly(user: String, failure: LoginFailure)
        /// The server throttled the login: close this upstream connection and start again after a
        /// backoff if the handshake timeout leaves room, else end with `failure` (the server's error).
        case retryThrottled(user: String, failure: LoginFailure)
        /// Logged in as the server's connection `upstreamConnectionID`.
        case loggedIn(upstreamConnectionID: UInt32)
        case startRelaying
        /// End the session: the failure's error (if any) goes to the client first.
        case fail(LoginFailure)
    }

    enum Phase: Sendable, Equatable {
        case greeting, awaitingResponse, clientTLSHandshake, loggingIn, relaying, closed
    }

    /// The authentication plugin named in the proxy's greeting; every client supports it, and
    /// the proxy accepts whatever it answers (the client has no IAM password).
    public static let greetingPlugin = "mysql_native_password"

    public var configuration: Configuration
    private(set) var phase = Phase.greeting
    public private(set) var response: HandshakeResponse?
    public private(set) var clientUsesTLS = false
    /// The sequence id the client's next packet must carry.
    private var expectedClientSequenceID: UInt8 = 1
    private var login: MySQLUpstreamLogin?
    private var token: (value: String, wasCached: Bool)?
    private var retried = false
    /// The server's OK to the login, and its connection id: a parked session greets the next client with them.
    private var loginOK: ByteBuffer?
    private var upstreamConnectionID: UInt32 = 0
    private var handedOut = false
    /// Asking the server whether it is read-only, after its OK and before the client's.
    private var writableCheck: MySQLWritableCheck?

    public init(configuration: Configuration) { self.configuration = configuration }

    public var user: String { response?.user ?? "" }
    public var database: String { response?.database ?? "" }
    public var isRelaying: Bool { phase == .relaying }
    /// The plugin the server last asked for (caching_sha2_password's path is not told apart).
    public var authenticationMethod: String? { handedOut ? "parked" : login?.plugin }

    /// Which parked sessions this client may be given (nil before its response, and without a database).
    public var sessionKey: MySQLSessionKey? { response.flatMap(MySQLSessionKey.init) }

    /// Once relaying after a login of its own: what a later client is greeted with.
    public var loggedInSession: MySQLLoggedInSession? {
        guard phase == .relaying, !handedOut, let loginOK else { return nil }
        return MySQLLoggedInSession(ok: loginOK, upstreamConnectionID: upstreamConnectionID)
    }

    /// Instead of logging in (after `.connectUpstream`, before anything reached the upstream):
    /// the client gets `session`'s OK on its own sequence, then relays.
    public mutating func handOut(_ session: MySQLLoggedInSession) -> [Action] {
        guard phase == .loggingIn, token == nil, !retried else { return [] }
        phase = .relaying
        handedOut = true
        return [.sendToClient(MySQLUpstreamLogin.frame(session.ok, sequenceID: expectedClientSequenceID &+ 1)),
                .loggedIn(upstreamConnectionID: session.upstreamConnectionID), .startRelaying]
    }
    public var hasReadResponse: Bool { phase == .loggingIn || phase == .relaying }
    /// Greeted with no TLS on offer, the client has sent nothing: if it leaves now it most likely
    /// requires TLS (`mysql --ssl`, `ssl-mode=REQUIRED`, MariaDB 11.4+ clients by default) —
    /// or it is a TCP health check, which looks the same.
    public var greetedWithoutTLSAndUnanswered: Bool {
        phase == .awaitingResponse && !configuration.clientTLSAvailable && expectedClientSequenceID == 1
    }

    /// What the client may use: the server's flags without those the proxy cannot relay.
    public var offeredCapabilities: CapabilityFlags {
        var flags = configuration.greeting.capabilities.subtracting(CapabilityFlags.neverOffered)
        if configuration.reusesSessions { flags.remove(.deprecateEOF) }
        flags.formUnion([.protocol41, .secureConnection, .pluginAuth, .pluginAuthLengthEncodedData])
        if configuration.clientTLSAvailable { flags.insert(.ssl) } else { flags.remove(.ssl) }
        return flags
    }

    /// The greeting for the client, with the proxy's own connection id and scramble.
    public mutating func start(connectionID: UInt32, scramble: [UInt8]) -> [Action] {
        phase = .awaitingResponse
        var greeting = configuration.greeting
        greeting.connectionID = connectionID
        greeting.scramble = scramble
        greeting.capabilities = offeredCapabilities
        greeting.authPluginName = Self.greetingPlugin
        return [.sendToClient(MySQLUpstreamLogin.frame(greeting.encode(), sequenceID: 0))]
    }

    // MARK: Client events

    /// The longest handshake packet (header included) a client may send. Real ones are a few
    /// hundred bytes (attributes included); without a limit every connection could make the
    /// proxy hold a 16 MiB packet before anyone has logged in.
    public static let maximumHandshakePacketLength = 64 * 1024

    public mutating func clientBytes(_ buffer: inout ByteBuffer) -> [Action] {
        guard phase == .awaitingResponse else { return [] }
        if let (length, sequenceID) = PacketFrame.header(in: buffer, at: buffer.readerIndex), 4 + length > Self.maximumHandshakePacketLength {
            return fail(.badHandshake("Bad handshake: a \(length)-byte handshake packet is more than iam-db-proxy accepts (\(Self.maximumHandshakePacketLength) bytes)"),
                        sequenceID: sequenceID &+ 1, reason: "client handshake packet of \(length) bytes")
        }
        guard let frame = PacketFrame.decode(from: &buffer) else { return [] }
        guard frame.sequenceID == expectedClientSequenceID else {
            return fail(.badHandshake("Bad handshake: packet sequence id \(frame.sequenceID), expected \(expectedClientSequenceID)"),
                        sequenceID: frame.sequenceID &+ 1, reason: "client handshake out of sequence")
        }
        let reply = frame.sequenceID &+ 1
        if HandshakeResponse.isSSLRequest(frame.payload) {
            guard configuration.clientTLSAvailable, !clientUsesTLS else {
                return fail(.badHandshake("Bad handshake: TLS was not offered on this listener (no client_tls configured)"),
                            sequenceID: reply, reason: "client asked for TLS, which is not configured")
            }
            clientUsesTLS = true
            phase = .clientTLSHandshake
            expectedClientSequenceID = reply
            return [.acceptClientTLS]
        }
        let response: HandshakeResponse
        do { response = try HandshakeResponse(payload: frame.payload) } catch {
            return fail(.badHandshake("Bad handshake: \(error)"), sequenceID: reply, reason: "malformed handshake response: \(error)")
        }
        return clientAnswered(response, sequenceID: frame.sequenceID)
    }

    public mutating func clientTLSEstablished() -> [Action] {
        guard phase == .clientTLSHandshake else { return [] }
        phase = .awaitingResponse
        return []
    }

    private mutating func clientAnswered(_ response: HandshakeResponse, sequenceID: UInt8) -> [Action] {
        var response = response
        // A client may set flags the greeting did not offer; only the common ones count.
        response.capabilities = response.capabilities.intersection(offeredCapabilities)
        self.response = response
        expectedClientSequenceID = sequenceID
        let reply = sequenceID &+ 1
        if configuration.tooManyConnections {
            return fail(.tooManyConnections("Too many connections (iam-db-proxy max_connections reached)"),
                        sequenceID: reply, reason: "max_connections reached")
        }
        if let allowed = configuration.allowedUsers, !allowed.contains(response.user) {
            return fail(.accessDenied("iam-db-proxy: user '\(response.user)' is not in the users list of listener \(configuration.listenerName)"),
                        sequenceID: reply, reason: "user \(response.user) not allowed")
        }
        if response.user.isEmpty {
            return fail(.accessDenied("iam-db-proxy: no user name given"), sequenceID: reply, reason: "no user name")
        }
        phase = .loggingIn
        login = makeLogin(response)
        return [.connectUpstream(user: response.user)]
    }

    private func makeLogin(_ response: HandshakeResponse) -> MySQLUpstreamLogin {
        var client = response
        // Attributes the greeting did not offer are not passed on.
        if !client.capabilities.contains(.connectAttributes) { client.attributes = nil }
        return MySQLUpstreamLogin(client: client, credential: configuration.credential)
    }

    // MARK: Upstream and token events

    public mutating func upstreamBytes(_ buffer: inout ByteBuffer) -> [Action] {
        var actions: [Action] = []
        while phase == .loggingIn, let frame = PacketFrame.decode(from: &buffer) {
            if writableCheck != nil {
                actions += checkedWritable(frame)
                continue
            }
            guard var login else { break }
            let steps = login.packet(frame)
            self.login = login
            actions += perform(steps)
        }
        return actions
    }

    /// `serverCertificate` is not used: no MySQL plugin the proxy answers binds to the channel.
    public mutating func upstreamTLSEstablished(serverCertificate: [UInt8]? = nil) -> [Action] {
        guard phase == .loggingIn, var login else { return [] }
        let steps = login.tlsEstablished()
        self.login = login
        return perform(steps)
    }

    public mutating func tokenReady(_ token: String, wasCached: Bool) -> [Action] {
        guard phase == .loggingIn, var login else { return [] }
        self.token = (token, wasCached)
        let steps = login.tokenReady(token)
        self.login = login
        return perform(steps)
    }

    /// Always 1045 (access denied): MySQL clients show no other class for a login without a
    /// password, whether the source failed or refuses the user (`refusesUser`).
    public mutating func tokenFailed(_ reason: String, refusesUser: Bool = false) -> [Action] {
        guard phase == .loggingIn else { return [] }
        return fail(.accessDenied("iam-db-proxy \(reason)"), reason: "no password: \(reason)")
    }

    public mutating func upstreamFailed(_ message: String, hint: String? = nil) -> [Action] {
        guard phase == .loggingIn else { return [] }
        let text = hint.map { "\(message). \($0)" } ?? message
        return fail(.cannotConnect("iam-db-proxy: \(text)"), reason: message)
    }

    private mutating func perform(_ steps: [MySQLUpstreamLogin.Step]) -> [Action] {
        var actions: [Action] = []
        for step in steps {
            switch step {
            case .send(let bytes): actions.append(.sendToUpstream(bytes))
            case .startTLS: actions.append(.startUpstreamTLS)
            case .greeted(let greeting): actions.append(.learnedGreeting(greeting))
            case .loggedIn(let ok):
                loginOK = ok
                upstreamConnectionID = login?.greeting?.connectionID ?? 0
                if configuration.checksWritable {
                    writableCheck = MySQLWritableCheck()
                    actions.append(.sendToUpstream(MySQLWritableCheck.request))
                } else {
                    actions += loggedIn()
                }
            case .refused(let error, _) where MySQLThrottledLogin.isThrottle(error):
                if let response {
                    token = nil
                    login = makeLogin(response)
                    actions.append(.retryThrottled(user: response.user, failure: LoginFailure(
                        error, sequenceID: expectedClientSequenceID &+ 1, reason: "the server throttled the login: \(error)")))
                }
            case .refused(let error, let retryable):
                if retryable, error.sqlState == "28000", token?.wasCached == true, !retried, let response {
                    retried = true
                    token = nil
                    login = makeLogin(response)
                    actions.append(.retryWithFreshToken(user: response.user))
                } else {
                    actions += fail(error, reason: "the server refused the login: \(error)")
                }
            case .failed(let reason):
                actions += fail(.cannotConnect("iam-db-proxy: \(reason)"), reason: reason)
            }
            if phase != .loggingIn { break }
        }
        return actions
    }

    /// The server's OK goes to the client on its sequence; the session relays.
    private mutating func loggedIn() -> [Action] {
        phase = .relaying
        return [.sendToClient(MySQLUpstreamLogin.frame(loginOK ?? ByteBuffer(), sequenceID: expectedClientSequenceID &+ 1)),
                .loggedIn(upstreamConnectionID: upstreamConnectionID), .startRelaying]
    }

    private mutating func checkedWritable(_ frame: PacketFrame) -> [Action] {
        guard var check = writableCheck else { return [] }
        let outcome = check.packet(frame)
        writableCheck = check
        switch outcome {
        case .pending:
            return []
        case .writable:
            writableCheck = nil
            return loggedIn()
        case .failed(let reason):
            writableCheck = nil
            return fail(.cannotConnect("iam-db-proxy could not check that the server is writable: \(reason)"), reason: "\(MySQLWritableCheck.query): \(reason)")
        case .readOnly:
            writableCheck = nil
            guard let response else { return [] }
            token = nil
            loginOK = nil
            login = makeLogin(response)
            let error = ErrorPacket(code: 1290, sqlState: "HY000", message: "iam-db-proxy: the database server is read-only (@@read_only or @@innodb_read_only), "
                                    + "not the writer this listener is for; after a failover the endpoint's DNS name takes a while to move "
                                    + "(if this listener is meant for a replica, set role: reader)")
            return [.retryReadOnly(user: response.user, failure: LoginFailure(
                error, sequenceID: expectedClientSequenceID &+ 1, reason: "logged in to a read-only server (@@read_only): stale DNS?"))]
        }
    }

    private mutating func fail(_ error: ErrorPacket, sequenceID: UInt8? = nil, reason: String) -> [Action] {
        phase = .closed
        return [.fail(LoginFailure(error, sequenceID: sequenceID ?? expectedClientSequenceID &+ 1, reason: reason))]
    }
}
