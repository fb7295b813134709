import NIOCore

/// Logs in to a MySQL/MariaDB server, as a pure state machine: read the greeting, ask for TLS,
/// send a HandshakeResponse41 carrying the credential, answer AuthSwitchRequest / AuthMoreData,
/// end on OK or ERR. An IAM token always goes as `mysql_clear_password`; a stored password
/// answers whichever plugin the server asks for (`MySQLPasswordAnswer`). The proxy runs one
/// per client session; the KILL forwarder runs one per KILL.
public struct MySQLUpstreamLogin: Sendable {
    public enum Credential: Sendable, Equatable {
        /// An RDS IAM auth token, which RDS takes through `mysql_clear_password` only.
        case iamToken
        /// A password (from Secrets Manager): native, caching_sha2 (fast and full), clear.
        case password
    }

    public enum Step: Sendable, Equatable {
        /// A framed packet for the server.
        case send(ByteBuffer)
        case startTLS
        /// The server's greeting, for the proxy to greet later clients like it.
        case greeted(ServerGreeting)
        /// Logged in; `ok` is the server's OK payload.
        case loggedIn(ok: ByteBuffer)
        /// The server refused the login (its ERR), or asked for a plugin a token cannot
        /// answer (`retryable` false: a fresh token would not help).
        case refused(ErrorPacket, retryable: Bool)
        /// The server cannot be used (no TLS, capabilities changed, protocol violation).
        case failed(String)
    }

    enum Phase: Sendable, Equatable {
        case awaitingGreeting, tlsHandshake, awaitingToken, authenticating, done
    }

    /// Servers IAM logins depend on; without them the proxy cannot log in safely.
    static let requiredServerCapabilities: CapabilityFlags = [.protocol41, .ssl, .secureConnection, .pluginAuth, .pluginAuthLengthEncodedData]
    /// Client-only flags, never sent upstream.
    static let clientOnly: CapabilityFlags = [.ssl, .sslVerifyServerCertificate, .rememberOptions, .connectWithDB, .connectAttributes]
    static let maximumAuthenticationRounds = 5

    /// What the client chose (its auth response and plugin are not used), passed upstream
    /// unchanged, since the proxy relays raw bytes once logged in.
    public let client: HandshakeResponse
    public let credential: Credential
    private(set) var phase = Phase.awaitingGreeting
    /// The plugin the last answer was for, and the nonce it was computed with.
    public private(set) var plugin = MySQLPasswordAnswer.clearPassword
    private var nonce: [UInt8] = []
    public private(set) var greeting: ServerGreeting?
    private var token: String?
    private var tlsReady = false
    private var rounds = 0

    public init(client: HandshakeResponse, credential: Credential = .iamToken) {
        self.client = client
        self.credential = credential
    }

    /// The flags sent upstream: the client's, minus what only concerns its own leg, plus
    /// what TLS and the plugin answer need.
    public var upstreamCapabilities: CapabilityFlags {
        var flags = client.capabilities.subtracting(Self.clientOnly).union(Self.requiredServerCapabilities)
        if client.database != nil { flags.insert(.connectWithDB) }
        if client.attributes != nil { flags.insert(.connectAttributes) }
        return flags
    }

    public mutating func tokenReady(_ token: String) -> [Step] {
        self.token = token
        return phase == .awaitingToken ? sendResponse() : []
    }

    public mutating func tlsEstablished() -> [Step] {
        guard phase == .tlsHandshake else { return [] }
        phase = .awaitingToken
        return token == nil ? [] : sendResponse()
    }

    public mutating func packet(_ frame: PacketFrame) -> [Step] {
        switch phase {
        case .awaitingGreeting: return readGreeting(frame)
        case .authenticating: return readAuthenticationReply(frame)
        case .tlsHandshake, .awaitingToken, .done:
            phase = .done
            return [.failed("the server sent a packet out of turn during login")]
        }
    }

    private mutating func readGreeting(_ frame: PacketFrame) -> [Step] {
        if frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) == 0xFF,
            let error = try? ErrorPacket(payload: frame.payload)
        {
            phase = .done
            return [.refused(error, retryable: false)]
        }
        let greeting: ServerGreeting
        do { greeting = try ServerGreeting(payload: frame.payload) } catch {
            phase = .done
            return [.failed("the server's greeting is malformed: \(error)")]
        }
        self.greeting = greeting
        let missing = Self.requiredServerCapabilities.subtracting(greeting.capabilities)
        if missing.contains(.ssl) {
            phase = .done
            return [.greeted(greeting), .failed("the server does not offer TLS, which IAM authentication requires")]
        }
        guard missing.isEmpty else {
            phase = .done
            return [.greeted(greeting), .failed("the server lacks capabilities the proxy needs (\(missing))")]
        }
        let behaviour = client.capabilities.subtracting(CapabilityFlags.connectionPhaseOnly)
        let unsupported = behaviour.subtracting(greeting.capabilities)
        guard unsupported.isEmpty else {
            phase = .done
            return [.greeted(greeting), .failed(
                "the server no longer offers capabilities \(unsupported) the client negotiated with the proxy's greeting; reconnect")]
        }
        phase = .tlsHandshake
        nonce = greeting.scramble
        plugin = switch credential {
        case .iamToken: MySQLPasswordAnswer.clearPassword
        // Answered in the first packet when the proxy can; otherwise the server switches.
        case .password: MySQLPasswordAnswer.isSupported(greeting.authPluginName) ? greeting.authPluginName : MySQLPasswordAnswer.nativePassword
        }
        var request = client
        request.capabilities = upstreamCapabilities
        return [.greeted(greeting), .send(Self.frame(request.encodeSSLRequest(), sequenceID: frame.sequenceID &+ 1)), .startTLS]
    }

    private mutating func sendResponse() -> [Step] {
        guard let token else { return [] }
        phase = .authenticating
        var response = client
        response.capabilities = upstreamCapabilities
        response.authResponse = answer(token)
        response.authPluginName = plugin
        // Greeting 0, SSLRequest 1, this response 2.
        return [.send(Self.frame(response.encode(), sequenceID: 2))]
    }

    private mutating func readAuthenticationReply(_ frame: PacketFrame) -> [Step] {
        let reply: AuthenticationReply
        do { reply = try AuthenticationReply(payload: frame.payload) } catch {
            phase = .done
            return [.failed("the server's login reply is malformed: \(error)")]
        }
        rounds += 1
        guard rounds <= Self.maximumAuthenticationRounds else {
            phase = .done
            return [.failed("the server kept asking for authentication data after \(Self.maximumAuthenticationRounds) answers")]
        }
        let respond = { (bytes: [UInt8]) in Self.frame(ByteBuffer(bytes: bytes), sequenceID: frame.sequenceID &+ 1) }
        let secret = token ?? ""
        switch reply {
        case .ok(let payload):
            phase = .done
            return [.loggedIn(ok: payload)]
        case .error(let error):
            phase = .done
            return [.refused(error, retryable: true)]
        case .authSwitch(let plugin?, let data) where credential == .password && MySQLPasswordAnswer.isSupported(plugin):
            self.plugin = plugin
            nonce = data.last == 0 ? Array(data.dropLast()) : data
            return [.send(respond(answer(secret)))]
        case .authSwitch(let plugin?, _) where credential == .iamToken && (plugin == MySQLPasswordAnswer.clearPassword || plugin == MySQLPasswordAnswer.dialog):
            return [.send(respond(answer(secret)))]
        case .authSwitch(let plugin, _):
            phase = .done
            let wanted = plugin ?? "mysql_old_password"
            let message = switch credential {
            case .iamToken: "the server asks user '\(client.user)' for \(wanted), not for an IAM token: the user does not exist or is not an IAM user"
            case .password: "the server asks user '\(client.user)' for \(wanted), which iam-db-proxy cannot answer with a password (it answers \(MySQLPasswordAnswer.supportedPlugins.joined(separator: ", ")))"
            }
            return [.refused(.accessDenied("iam-db-proxy: \(message)"), retryable: false)]
        case .moreData(MySQLPasswordAnswer.fastAuthenticationSucceeded):
            // caching_sha2_password: the scramble matched the server's cache; OK follows.
            return []
        case .moreData(MySQLPasswordAnswer.fullAuthenticationRequested) where credential == .password,
             .moreData where credential == .iamToken || plugin == MySQLPasswordAnswer.dialog:
            // caching_sha2_password's full authentication, or a PAM prompt: the password itself, over the verified TLS.
            return [.send(respond(MySQLPasswordAnswer.clear(secret)))]
        case .moreData(let data):
            phase = .done
            return [.failed("the server sent \(plugin) data iam-db-proxy cannot answer (\(data.count) bytes)")]
        }
    }

    /// The answer to the current plugin and nonce.
    private func answer(_ secret: String) -> [UInt8] {
        switch credential {
        case .iamToken: MySQLPasswordAnswer.clear(secret)
        case .password: MySQLPasswordAnswer.answer(plugin: plugin, password: secret, nonce: nonce) ?? []
        }
    }

    static func frame(_ payload: ByteBuffer, sequenceID: UInt8) -> ByteBuffer {
        var buffer = ByteBuffer()
        PacketFrame(sequenceID: sequenceID, payload: payload).encode(into: &buffer)
        return buffer
    }
}
