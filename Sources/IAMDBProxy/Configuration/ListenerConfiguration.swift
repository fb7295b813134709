/// One listener: where the proxy listens, which database it logs in to, and how it signs.
public struct ListenerConfiguration: Sendable, Equatable {
    public enum Engine: String, Sendable, Equatable, CaseIterable {
        case postgres, mysql

        public var defaultPort: Int { self == .postgres ? 5432 : 3306 }
    }

    public struct UpstreamTLS: Sendable, Equatable {
        public enum Mode: String, Sendable, Equatable, CaseIterable {
            /// Certificate chain and host name verified (the default).
            case verifyFull = "verify-full"
            /// Certificate chain verified, host name not.
            case verifyCA = "verify-ca"
            /// Encrypted, nothing verified (for tests and tunnels; never the default).
            case require
        }

        public var mode: Mode = .verifyFull
        /// PEM bundle trusted in addition to the system roots (the RDS `global-bundle.pem`).
        public var caFile: String?
        /// The name the certificate must carry, when it is not the upstream host (tunnels).
        public var serverName: String?

        public init(mode: Mode = .verifyFull, caFile: String? = nil, serverName: String? = nil) {
            self.mode = mode
            self.caFile = caFile
            self.serverName = serverName
        }
    }

    public struct ClientTLS: Sendable, Equatable {
        public var certFile: String
        public var keyFile: String

        public init(certFile: String, keyFile: String) {
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public var name: String
    public var engine: Engine
    public var listen: HostAndPort
    public var upstream: HostAndPort
    /// The host name the token is signed for (default: the upstream host).
    public var iamHost: String?
    /// The port the token is signed for (default: the upstream port).
    public var iamDefaultPort: Int?
    public var iamRegion: String?
    /// Seconds a token is reused (its lifetime is 900 s).
    public var iamExpiration: Int = 870
    public var tls = UpstreamTLS()
    public var clientTLS: ClientTLS?
    /// Database users allowed through this listener (nil: any).
    public var users: [String]?
    /// Sessions open at once on this listener (nil: no per-listener limit).
    public var maxConnections: Int?
    /// Close a logged-in session after this long with no bytes either way (nil: never).
    public var idleTimeoutSeconds: Double?
    public var connectTimeoutSeconds: Double = 10
    public var handshakeTimeoutSeconds: Double = 10

    public init(name: String, engine: Engine, listen: HostAndPort, upstream: HostAndPort) {
        self.name = name
        self.engine = engine
        self.listen = listen
        self.upstream = upstream
    }

    public var signingHost: String { iamHost ?? upstream.host }
    public var signingPort: Int { iamDefaultPort ?? upstream.port }
}
