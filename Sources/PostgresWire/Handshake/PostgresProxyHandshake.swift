import NIOCore

/// The proxy's PostgreSQL startup phase as a pure state machine: the client's side (SSL and
/// GSS negotiation, startup or cancel request) and the upstream's (TLS, authentication with the
/// IAM token, the messages up to ReadyForQuery). Each event returns the actions to perform;
/// `PostgresSessionHandler` performs them. No I/O happens here.
public struct PostgresProxyHandshake: Sendable {
    public struct Configuration: Sendable {
        /// Client TLS is configured: SSLRequest is answered `S` instead of `N`.
        public var clientTLSAvailable: Bool
        /// Only these database users may log in through the listener (nil: any).
        public var allowedUsers: Set<String>?
        /// The listener is full: the client is told so (53300) once its startup message is
        /// read, which is the first moment libpq will show an error.
        public var tooManyConnections: Bool

        /// Replication connections (`replication=true|database`) may log in; they can read
        /// every row of the database whatever the table grants, so they are opt-in.
        public var allowReplication: Bool
        /// The stale-DNS guard of a writer listener: before the client is told it is logged in,
        /// the server must say it is not a standby (`pg_is_in_recovery()` false).
        public var checksWritable: Bool

        public init(clientTLSAvailable: Bool = false, allowedUsers: Set<String>? = nil, tooManyConnections: Bool = false,
                    allowReplication: Bool = false, checksWritable: Bool = false) {
            self.clientTLSAvailable = clientTLSAvailable
            self.allowedUsers = allowedUsers
            self.tooManyConnections = tooManyConnections
            self.allowReplication = allowReplication
            self.checksWritable = checksWritable
        }
    }

    public enum Action: Sendable, Equatable {
        case sendToClient(ByteBuffer)
        /// Send `S`, then begin the TLS server handshake on the client connection.
        case acceptClientTLS(ByteBuffer)
        /// Dial the upstream and get a token for `user`, both at once.
        case connectUpstream(user: String)
        case sendToUpstream(ByteBuffer)
        case startUpstreamTLS
        /// The client asked to cancel a query: pass it to the upstream session holding `key`.
        case forwardCancel(BackendKey)
        /// A cached token was refused: drop it, close this upstream connection, start again.
        case retryWithFreshToken(user: String)
        /// The server throttled the login: close this upstream connection and start again after a
        /// backoff if the handshake timeout leaves room, else end with `failure` (the server's error).
        case retryThrottled(user: String, failure: LoginFailure)
        /// Logged in to a standby through a writer listener (a stale DNS answer after a failover):
        /// close this upstream connection and start again, resolving the name afresh, if the
        /// handshake timeout leaves room, else end with `failure`.
        case retryReadOnly(user: String, failure: LoginFailure)
        /// The server's BackendKeyData, and the one the client was given instead.
        case registerBackendKey(server: BackendKey, client: BackendKey)
        /// The session is logged in: relay bytes both ways from now on.
        case startRelaying
        /// End the session: the failure's error (if any) goes to the client first.
        case fail(LoginFailure)
    }

    enum Phase: Sendable {
        case awaitingStartup
        case clientTLSHandshake
        case connecting
        case awaitingSSLAnswer
        case upstreamTLSHandshake
        case authenticating
        case awaitingReady
        case checkingWritable
        case relaying
        case closed
    }

    public var configuration: Configuration
    private(set) var phase = Phase.awaitingStartup
    public private(set) var clientUsesTLS = false
    /// Which negotiation requests the client has made (each is allowed once).
    private var negotiated = (ssl: false, gss: false)
    private var usesDirectTLS = false
    public private(set) var protocolVersion = StartupRequest.ProtocolVersion(major: 3, minor: 0)
    public private(set) var parameters: [(String, String)] = []
    /// The parameter section as the client sent it: forwarded unchanged, so values that are
    /// not UTF-8 (a LATIN1 database name) reach the server intact.
    private var rawParameters = ByteBuffer()
    public private(set) var attempt = 1
    private var token: (value: String, wasCached: Bool)?
    private var pendingAuthentication: AuthenticationRequest?
    private var scram: SCRAMSHA256Client?
    /// What the server asked for: `cleartext`, `md5`, `SCRAM-SHA-256` or `SCRAM-SHA-256-PLUS`.
    public private(set) var authenticationMethod: String?
    /// `tls-server-end-point` data of this attempt's upstream certificate.
    private var channelBinding: [UInt8]?
    /// NegotiateProtocolVersion and notices arrive before authentication; they reach the
    /// client only after AuthenticationOk, so a retried login does not send them twice.
    private var held = ByteBuffer()
    private var negotiation: ByteBuffer?
    /// While the stale-DNS guard asks: the login's answer for the client, and what to do with it.
    private var heldLogin: (toClient: ByteBuffer, actions: [Action])?
    private var inRecovery: Bool?
    public static let writableCheck = "SELECT pg_is_in_recovery()"
    /// ParameterStatus values after AuthenticationOk, in order.
    private var reportedParameters: [(String, String)] = []
    private var serverKey: BackendKey?

    public init(configuration: Configuration) { self.configuration = configuration }

    public var user: String { StartupRequest.parameter("user", in: parameters) ?? "" }
    public var database: String { StartupRequest.parameter("database", in: parameters) ?? user }
    public var isRelaying: Bool { phase == .relaying }
    /// The client asked for TLS, was told this listener has none, and has sent no startup yet:
    /// if it leaves now, it required TLS (`sslmode=require`, the usual RDS advice).
    public var declinedTLSAwaitingStartup: Bool {
        negotiated.ssl && !clientUsesTLS && !configuration.clientTLSAvailable && phase == .awaitingStartup
    }
    public var hasReadStartup: Bool { ![.awaitingStartup, .clientTLSHandshake].contains(phase) }

    /// Which parked sessions this client may be given (nil for replication sessions, and before the startup message).
    public var sessionKey: PostgresSessionKey? {
        hasReadStartup ? PostgresSessionKey(protocolVersion: protocolVersion, parameters: parameters) : nil
    }

    /// Once relaying after a login of its own: what the server said at login, to greet a later
    /// client with if the session is parked (nil when it sent no BackendKeyData).
    public var loggedInSession: PostgresLoggedInSession? {
        guard phase == .relaying, let serverKey else { return nil }
        return PostgresLoggedInSession(negotiation: negotiation, parameters: reportedParameters, serverKey: serverKey)
    }

    // MARK: Client events

    /// Consumes what it can of the client's bytes; unread bytes stay in `buffer`. A loop, not
    /// recursion: a client controls how many requests one read holds.
    public mutating func clientBytes(_ buffer: inout ByteBuffer) -> [Action] {
        var actions: [Action] = []
        while phase == .awaitingStartup {
            let request: StartupRequest
            let before = buffer
            do {
                guard let decoded = try StartupRequest.decode(from: &buffer) else { break }
                request = decoded
            } catch {
                return actions + fail(.protocolViolation, "invalid startup packet: \(error)", reason: "malformed startup packet: \(error)")
            }
            if case .startup = request {
                let length = buffer.readerIndex - before.readerIndex
                rawParameters = before.getSlice(at: before.readerIndex + 8, length: length - 8) ?? ByteBuffer()
            }
            actions += clientSent(request, more: buffer.readableBytes > 0)
        }
        return actions
    }

    private mutating func clientSent(_ request: StartupRequest, more bytesFollow: Bool) -> [Action] {
        switch request {
        case .sslRequest:
            guard !clientUsesTLS else { return closeSilently("SSLRequest inside TLS") }
            // PostgreSQL answers one SSLRequest and one GSSENCRequest per connection; without
            // this limit a client could make the proxy answer every one of thousands.
            guard !negotiated.ssl else { return repeatedNegotiation("SSLRequest") }
            negotiated.ssl = true
            // Declined: the client goes on in plaintext, maybe with its startup already sent.
            guard configuration.clientTLSAvailable else { return [.sendToClient(ByteBuffer(string: "N"))] }
            // Bytes after SSLRequest would be read as if they came through TLS (CVE-2021-23214).
            guard !bytesFollow else { return closeSilently("plaintext bytes pipelined after SSLRequest") }
            phase = .clientTLSHandshake
            return [.acceptClientTLS(ByteBuffer(string: "S"))]
        case .gssEncryptionRequest:
            guard !negotiated.gss, !clientUsesTLS else { return repeatedNegotiation("GSSENCRequest") }
            negotiated.gss = true
            return [.sendToClient(ByteBuffer(string: "N"))]
        case .cancel(let processID, let secretKey):
            phase = .closed
            return [.forwardCancel(BackendKey(processID: processID, secretKey: secretKey))]
        case .startup(let version, let parameters):
            self.protocolVersion = version
            self.parameters = parameters
            return startupReceived()
        }
    }

    private mutating func repeatedNegotiation(_ name: String) -> [Action] {
        fail(.protocolViolation, "the client sent another \(name); PostgreSQL accepts one SSLRequest and one GSSENCRequest per connection",
             reason: "repeated \(name)")
    }

    private mutating func startupReceived() -> [Action] {
        if configuration.tooManyConnections {
            return fail(.tooManyConnections, "sorry, too many clients already",
                        hint: "iam-db-proxy is at its max_connections; try again later or raise the limit.",
                        reason: "max_connections reached")
        }
        if let allowed = configuration.allowedUsers, !allowed.contains(user) {
            return fail(.invalidAuthorization, "user \"\(user)\" may not connect through this iam-db-proxy listener",
                        hint: "Add the user to the listener's users list.", reason: "user \(user) not in the listener's users list")
        }
        if !configuration.allowReplication, let replication = StartupRequest.parameter("replication", in: parameters),
            !Self.isFalse(replication)
        {
            return fail(.invalidAuthorization, "replication connections may not use this iam-db-proxy listener",
                        hint: "Set allow_replication: true on the listener to allow them.", reason: "replication=\(replication) refused")
        }
        phase = .connecting
        return [.connectUpstream(user: user)]
    }

    /// PostgreSQL's spellings of false for a boolean (`parse_bool`: prefixes of false and no,
    /// off, of, 0); `replication=off` is an ordinary session. Anything else is refused.
    static func isFalse(_ value: String) -> Bool {
        let value = value.lowercased()
        guard !value.isEmpty else { return false }
        return "false".hasPrefix(value) || "no".hasPrefix(value) || value == "off" || value == "of" || value == "0"
    }

    /// The ALPN protocol a PostgreSQL client names on direct TLS (PostgreSQL 17 and later).
    public static let alpnProtocol = "postgresql"

    /// The client's TLS handshake finished; `negotiatedProtocol` is the ALPN protocol agreed.
    public mutating func clientTLSEstablished(negotiatedProtocol: String?) -> [Action] {
        guard phase == .clientTLSHandshake else { return [] }
        clientUsesTLS = true
        negotiated = (ssl: true, gss: true)
        phase = .awaitingStartup
        // Direct TLS without ALPN could be another protocol's client tricked into talking to
        // us (a cross-protocol attack); PostgreSQL 17 refuses it the same way.
        if usesDirectTLS, negotiatedProtocol != Self.alpnProtocol {
            return fail(.protocolViolation, "direct TLS connections must use the ALPN protocol \"postgresql\"",
                        hint: "Use a PostgreSQL 17 or later client with sslnegotiation=direct, or sslnegotiation=postgres.",
                        reason: "direct TLS without ALPN postgresql")
        }
        return []
    }

    /// A client that arrives speaking TLS directly (PostgreSQL 17 `sslnegotiation=direct`).
    public mutating func clientStartsDirectTLS() -> [Action] {
        guard phase == .awaitingStartup, !clientUsesTLS, !negotiated.ssl, configuration.clientTLSAvailable else {
            return closeSilently("direct TLS without client TLS configured")
        }
        usesDirectTLS = true
        phase = .clientTLSHandshake
        return []
    }

    // MARK: Token events

    public mutating func tokenReady(_ value: String, wasCached: Bool) -> [Action] {
        guard phase != .closed, phase != .relaying else { return [] }
        token = (value, wasCached)
        guard let request = pendingAuthentication else { return [] }
        pendingAuthentication = nil
        return answer(request)
    }

    /// `refusesUser`: the source will never have a password for this user (a secret holding
    /// another user's), an authorization failure (28000) rather than a connection failure.
    public mutating func tokenFailed(_ reason: String, refusesUser: Bool = false) -> [Action] {
        guard phase != .closed, phase != .relaying else { return [] }
        // `reason` says what failed, in the source's words ("could not sign an IAM auth token: …").
        return fail(refusesUser ? .invalidAuthorization : .cannotConnect, "iam-db-proxy \(reason)", reason: "no password: \(reason)")
    }

    // MARK: Upstream events

    public mutating func upstreamConnected() -> [Action] {
        guard phase == .connecting else { return [] }
        phase = .awaitingSSLAnswer
        return [.sendToUpstream(FrontendMessages.sslRequest())]
    }

    /// `serverCertificate`: the verified certificate's DER, for SCRAM channel binding.
    public mutating func upstreamTLSEstablished(serverCertificate: [UInt8]? = nil) -> [Action] {
        guard phase == .upstreamTLSHandshake else { return [] }
        phase = .authenticating
        channelBinding = serverCertificate.flatMap(TLSServerEndPoint.bindingData(certificateDER:))
        return [.sendToUpstream(FrontendMessages.startup(version: protocolVersion, rawParameters: rawParameters))]
    }

    /// The upstream could not be reached, its TLS failed, or it closed during the handshake.
    /// The client broke the protocol after its startup message (for example by sending
    /// queries before it is logged in): 08P01, as a server would answer.
    public mutating func clientViolatedProtocol(_ message: String) -> [Action] {
        guard phase != .closed, phase != .relaying else { return [] }
        return fail(.protocolViolation, message, reason: message)
    }

    public mutating func upstreamFailed(_ message: String, hint: String? = nil) -> [Action] {
        guard phase != .closed, phase != .relaying else { return [] }
        return fail(.cannotConnect, message, hint: hint, reason: message)
    }

    public mutating func upstreamBytes(_ buffer: inout ByteBuffer) -> [Action] {
        switch phase {
        case .awaitingSSLAnswer:
            guard let answer = buffer.readInteger(as: UInt8.self) else { return [] }
            switch answer {
            case UInt8(ascii: "S"):
                // Bytes after the server's `S` would be trusted as if TLS-protected (CVE-2021-23222).
                guard buffer.readableBytes == 0 else {
                    return fail(.cannotConnect, "the database server sent unencrypted data after accepting TLS", reason: "upstream bytes after S")
                }
                phase = .upstreamTLSHandshake
                return [.startUpstreamTLS]
            case UInt8(ascii: "N"):
                return fail(.cannotConnect, "the database server does not accept TLS connections",
                            hint: "IAM database authentication needs TLS; check that the upstream is an RDS endpoint with TLS enabled.",
                            reason: "upstream refused SSLRequest")
            default:
                return fail(.cannotConnect, "the database server answered the TLS request with unexpected data", reason: "bad SSLRequest answer")
            }
        case .authenticating, .awaitingReady:
            return readServerMessages(&buffer)
        case .checkingWritable:
            return readWritableCheck(&buffer)
        default:
            return []
        }
    }

    private mutating func readServerMessages(_ buffer: inout ByteBuffer) -> [Action] {
        var actions: [Action] = []
        var toClient = ByteBuffer()
        while phase == .authenticating || phase == .awaitingReady {
            let message: BackendMessage
            do {
                guard let decoded = try BackendMessage.decode(from: &buffer) else { break }
                message = decoded
            } catch {
                return fail(.protocolViolation, "the database server sent an invalid message: \(error)", reason: "upstream: \(error)")
            }
            if phase == .awaitingReady {
                if message.type == BackendMessage.backendKeyData {
                    // The client never sees the backend's secret: a client that kept it could
                    // cancel whatever that backend runs later, for someone else.
                    guard let key = try? BackendKey(body: message.body) else {
                        return fail(.protocolViolation, "the database server sent an invalid BackendKeyData", reason: "bad BackendKeyData")
                    }
                    let clientKey = key.withRandomSecret()
                    serverKey = key
                    toClient.writeImmutableBuffer(clientKey.message)
                    actions.append(.registerBackendKey(server: key, client: clientKey))
                    continue
                }
                toClient.writeImmutableBuffer(message.wireBytes)
                switch message.type {
                case BackendMessage.parameterStatus:
                    var body = message.body
                    if let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() {
                        reportedParameters.append((name, value))
                    }
                case BackendMessage.readyForQuery where configuration.checksWritable:
                    phase = .checkingWritable
                    heldLogin = (toClient, actions)
                    inRecovery = nil
                    return [.sendToUpstream(FrontendMessages.query(Self.writableCheck))]
                case BackendMessage.readyForQuery:
                    phase = .relaying
                    return actions + [.sendToClient(toClient), .startRelaying]
                case BackendMessage.errorResponse:
                    phase = .closed
                    let error = try? ErrorResponse(body: message.body)
                    return actions + [.fail(LoginFailure(error: toClient, sqlState: error?.sqlState,
                                                         reason: "server error after login: \(error?.description ?? "?")"))]
                default:
                    break
                }
                continue
            }
            switch message.type {
            case BackendMessage.negotiateProtocolVersion, BackendMessage.noticeResponse:
                if message.type == BackendMessage.negotiateProtocolVersion { negotiation = message.wireBytes }
                held.writeImmutableBuffer(message.wireBytes)
            case BackendMessage.authentication:
                let request: AuthenticationRequest
                do { request = try AuthenticationRequest(body: message.body) } catch {
                    return fail(.protocolViolation, "the database server sent an invalid authentication request", reason: "\(error)")
                }
                if request == .ok {
                    phase = .awaitingReady
                    toClient.writeImmutableBuffer(held)
                    toClient.writeImmutableBuffer(message.wireBytes)
                    held.clear()
                    continue
                }
                let answer = self.answer(request)
                actions += answer
                if case .fail = answer.last { return actions }
            case BackendMessage.errorResponse:
                return actions + authenticationRefused(message)
            default:
                return fail(.protocolViolation, "the database server sent an unexpected message during login",
                            reason: "unexpected upstream message \(message.type) while authenticating")
            }
        }
        if toClient.readableBytes > 0 { actions.append(.sendToClient(toClient)) }
        return actions
    }

    private mutating func authenticationRefused(_ message: BackendMessage) -> [Action] {
        let error = try? ErrorResponse(body: message.body)
        let sqlState = error?.sqlState
        if ThrottledLogin.isThrottle(error) {
            startOver()
            return [.retryThrottled(user: user, failure: LoginFailure(
                error: message.wireBytes, sqlState: sqlState, reason: "server throttled the login: \(error?.description ?? "?")"))]
        }
        if (sqlState == SQLState.invalidPassword.rawValue || sqlState == SQLState.invalidAuthorization.rawValue),
            token?.wasCached == true, attempt == 1
        {
            attempt += 1
            startOver()
            return [.retryWithFreshToken(user: user)]
        }
        phase = .closed
        return [.fail(LoginFailure(error: message.wireBytes, sqlState: sqlState, reason: "server refused login: \(error?.description ?? "unreadable error")"))]
    }

    /// The answer to the stale-DNS guard's query: one row, `t` or `f`, then ReadyForQuery.
    private mutating func readWritableCheck(_ buffer: inout ByteBuffer) -> [Action] {
        while phase == .checkingWritable {
            let message: BackendMessage
            do {
                guard let decoded = try BackendMessage.decode(from: &buffer) else { return [] }
                message = decoded
            } catch {
                return fail(.protocolViolation, "the database server sent an invalid message: \(error)", reason: "upstream: \(error)")
            }
            var body = message.body
            switch message.type {
            case UInt8(ascii: "D"):
                if body.readInteger(as: Int16.self) == 1, body.readInteger(as: Int32.self) == 1 {
                    inRecovery = body.readInteger(as: UInt8.self) == UInt8(ascii: "t")
                }
            case BackendMessage.errorResponse:
                let error = try? ErrorResponse(body: message.body)
                return fail(.cannotConnect, "iam-db-proxy could not check that the server is writable: \(error?.description ?? "?")",
                            reason: "\(Self.writableCheck) failed: \(error?.description ?? "?")")
            case BackendMessage.readyForQuery:
                guard let inRecovery, let held = heldLogin else {
                    return fail(.protocolViolation, "the database server's answer to \(Self.writableCheck) had no row", reason: "no pg_is_in_recovery row")
                }
                heldLogin = nil
                guard inRecovery else {
                    phase = .relaying
                    return held.actions + [.sendToClient(held.toClient), .startRelaying]
                }
                startOver()
                return [.retryReadOnly(user: user, failure: LoginFailure(
                    error: ErrorResponse(fatal: .cannotConnect, "the database server is a read-only standby (pg_is_in_recovery() is true), not the writer this listener is for",
                                         hint: "After a failover the endpoint's DNS name takes a while to move; if this listener is meant for a standby, set role: reader.").encoded(),
                    sqlState: SQLState.cannotConnect.rawValue, reason: "logged in to a standby (pg_is_in_recovery() true): stale DNS?"))]
            default:
                // RowDescription, CommandComplete, notices, notifications: nothing to decide on.
                continue
            }
        }
        return []
    }

    /// Back to before dialing, for another login on a new upstream connection.
    private mutating func startOver() {
        phase = .connecting
        heldLogin = nil
        reportedParameters = []
        serverKey = nil
        token = nil
        pendingAuthentication = nil
        scram = nil
        held.clear()
        negotiation = nil
    }

    private mutating func answer(_ request: AuthenticationRequest) -> [Action] {
        guard let token else {
            pendingAuthentication = request
            return []
        }
        switch request {
        case .cleartextPassword:
            authenticationMethod = "cleartext"
            return [.sendToUpstream(FrontendMessages.password(token.value))]
        case .md5Password(let salt):
            authenticationMethod = "md5"
            return [.sendToUpstream(FrontendMessages.password(MD5PasswordAnswer.answer(password: token.value, user: user, salt: salt)))]
        case .sasl(let mechanisms):
            // Bound to the verified certificate when the server offers it (it does over TLS,
            // PostgreSQL 11+); otherwise plain SCRAM, which every server offering PLUS accepts too.
            let binding = mechanisms.contains(SCRAMSHA256Client.channelBindingMechanism) ? channelBinding : nil
            guard binding != nil || mechanisms.contains(SCRAMSHA256Client.mechanism) else {
                return fail(.invalidAuthorization, "the database server offers no SASL mechanism iam-db-proxy supports (\(mechanisms.joined(separator: ", ")))",
                            reason: "unsupported SASL mechanisms")
            }
            let client = SCRAMSHA256Client(password: token.value, channelBinding: binding)
            scram = client
            authenticationMethod = client.mechanism
            return [.sendToUpstream(FrontendMessages.saslInitialResponse(mechanism: client.mechanism, data: client.clientFirstMessage))]
        case .saslContinue(let data):
            guard var client = scram else { return fail(.protocolViolation, "unexpected SASL continuation from the server", reason: "SASL out of order") }
            do {
                let final = try client.clientFinalMessage(serverFirst: data)
                scram = client
                return [.sendToUpstream(FrontendMessages.saslResponse(data: final))]
            } catch {
                return fail(.protocolViolation, "the database server sent an invalid SCRAM message", reason: "\(error)")
            }
        case .saslFinal(let data):
            do {
                try scram?.verify(serverFinal: data)
                return []
            } catch {
                return fail(.invalidAuthorization, "the database server failed SCRAM verification", reason: "\(error)")
            }
        case .unsupported(let code):
            return fail(.invalidAuthorization, "the database server asks for an authentication method (code \(code)) that an IAM token cannot answer",
                        hint: "Grant the user rds_iam on the server.", reason: "unsupported auth code \(code)")
        case .ok:
            return []
        }
    }

    // MARK: Parked sessions

    /// Instead of logging in (after `.connectUpstream`, before the upstream connected): the
    /// client gets `session`, logged in earlier for the same key, with a key of its own.
    public mutating func handOut(_ session: PostgresLoggedInSession) -> [Action] {
        guard phase == .connecting, attempt == 1 else { return [] }
        phase = .relaying
        authenticationMethod = "parked"
        let clientKey = session.serverKey.withRandomSecret()
        return [.registerBackendKey(server: session.serverKey, client: clientKey), .sendToClient(session.greeting(clientKey: clientKey)), .startRelaying]
    }

    // MARK: Endings

    private mutating func fail(_ state: SQLState, _ message: String, hint: String? = nil, reason: String) -> [Action] {
        phase = .closed
        return [.fail(LoginFailure(error: ErrorResponse(fatal: state, message, hint: hint).encoded(), sqlState: state.rawValue, reason: reason))]
    }

    private mutating func closeSilently(_ reason: String) -> [Action] {
        phase = .closed
        return [.fail(LoginFailure(error: nil, sqlState: nil, reason: reason))]
    }
}
