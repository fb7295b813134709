import AWSAuth
/// One listener: where the proxy listens, which database it logs in to, and how it signs.
public struct ListenerConfiguration: Sendable, Equatable {
    public enum Engine: String, Sendable, Equatable, CaseIterable {
        case postgres, mysql

        public var defaultPort: Int {
            switch self {
            case .postgres: 5432
            case .mysql: 3306
            }
        }
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

        /// What a mode weaker than verify-full exposes the token to, for the startup warning.
        public var exposure: String? {
            switch mode {
            case .verifyFull: nil
            case .verifyCA: "tls.mode verify-ca: any server with a certificate from tls.ca_file receives the IAM token, whatever its name"
            case .require: "tls.mode require: the server certificate is not checked; anyone who can intercept the connection receives the IAM token"
            }
        }

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

    /// Where a listener accepts connections.
    public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
        case tcp(HostAndPort)
        /// The socket file: for PostgreSQL `DIR/.s.PGSQL.<port>`, which libpq looks for when
        /// given `host=DIR`; for MySQL the file the client's `--socket` names.
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let address): "\(address)"
            case .unix(let path): "unix:\(path)"
            }
        }

        /// `HOST:PORT`, or `unix:/path` (a directory for postgres, where the socket is named
        /// after the upstream port as libpq expects; the socket file itself for mysql).
        public init?(_ text: String, engine: Engine, upstreamPort: Int) {
            if text.hasPrefix("unix:") {
                var path = String(text.dropFirst("unix:".count))
                guard path.hasPrefix("/"), path.count > 1 else { return nil }
                switch engine {
                case .postgres:
                    if path.hasSuffix("/") { path.removeLast() }
                    path += "/.s.PGSQL.\(upstreamPort)"
                case .mysql:
                    break
                }
                self = .unix(path: path)
            } else {
                guard let address = HostAndPort(text) else { return nil }
                self = .tcp(address)
            }
        }
    }

    public var name: String
    public var engine: Engine
    public var listen: ListenAddress
    /// Permissions of a unix socket file (octal 0660 by default: owner and group).
    public var unixSocketMode: UInt16 = 0o660
    public var upstream: HostAndPort
    /// The host name the token is signed for (default: the upstream host).
    public var iamHost: String?
    /// The port the token is signed for (default: the upstream port).
    public var iamDefaultPort: Int?
    public var iamRegion: String?
    /// Seconds a token is reused (its lifetime is 900 s); `iam_expiration` in the file.
    public var iamExpirationSeconds = Int(TokenCache.defaultLifetime)
    public var tls = UpstreamTLS()
    public var clientTLS: ClientTLS?
    /// Database users allowed through this listener (nil: any).
    public var users: [String]?
    /// PostgreSQL replication connections may log in (they read every row, whatever the grants).
    public var allowReplication = false
    /// The listener may be on an address other hosts can reach.
    public var allowRemote = false
    /// How logins get their password: an IAM token (default) or a Secrets Manager secret.
    public var auth = Auth.iam

    public enum Auth: Sendable, Equatable {
        case iam
        case secret(SecretSettings)
    }

    /// `auth: secret`: the password of a secret's JSON (`username`, `password`, as RDS writes it).
    public struct SecretSettings: Sendable, Equatable {
        public var secretID: String
        /// Default: the region in the secret's ARN, else the listener's.
        public var region: String?
        public var versionStage = "AWSCURRENT"
        public var cacheSeconds: Double = 300
        public var endpoint: String?

        public init(secretID: String) { self.secretID = secretID }

        /// The region an ARN names (`arn:aws:secretsmanager:REGION:…`).
        public var arnRegion: String? {
            let parts = secretID.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count > 4 && parts[0] == "arn" && parts[2] == "secretsmanager" && !parts[3].isEmpty ? String(parts[3]) : nil
        }
    }
    /// Sessions open at once on this listener (nil: no per-listener limit).
    public var maxConnections: Int?
    /// Close a logged-in session after this long with no bytes either way (nil: never).
    public var idleTimeoutSeconds: Double?
    public var connectTimeoutSeconds: Double = 10
    public var handshakeTimeoutSeconds: Double = 10
    public var sessionReuse = SessionReuseSettings()
    /// What the upstream is for, as configured: the writer (a login that reaches a read-only
    /// server, a stale DNS answer after a failover, is retried) or a reader. nil: `effectiveRole`.
    public var role: Role?
    /// Aurora-aware routing: the cluster's instances read from a monitoring session.
    public var topology = TopologySettings()

    /// The instance endpoint pattern when this listener follows an Aurora topology, else nil.
    public var instanceHostPattern: String? { topology.instancePattern(upstreamHost: upstream.host) }

    /// The role in force: as configured, else reader for an Aurora reader endpoint
    /// (`cluster-ro-`), which leads to read-only instances by design, else writer.
    public var effectiveRole: Role {
        role ?? (RDSEndpoint(host: upstream.host)?.kind == .clusterReader ? .reader : .writer)
    }

    public enum Role: String, Sendable, Equatable, CaseIterable {
        case writer, reader
    }

    public init(name: String, engine: Engine, listen: HostAndPort, upstream: HostAndPort) {
        self.init(name: name, engine: engine, listen: .tcp(listen), upstream: upstream)
    }

    public init(name: String, engine: Engine, listen: ListenAddress, upstream: HostAndPort) {
        self.name = name
        self.engine = engine
        self.listen = listen
        self.upstream = upstream
    }

    /// Why this listener may not start where it is: anyone who reaches its port gets a
    /// database session signed with the proxy's identity, so only loopback unless asked.
    public var remoteListenProblem: String? {
        guard let address = remoteAddress, !allowRemote else { return nil }
        return "\(address.host) is not a loopback address, and anyone who can reach it gets a database session signed with this proxy's identity; "
            + "listen on 127.0.0.1 (or a unix socket), or set allow_remote: true (--allow-remote) and prefer client_tls"
    }

    /// Reachable from other hosts with plaintext clients: worth a warning at every start.
    public var isRemoteWithoutClientTLS: Bool { remoteAddress != nil && clientTLS == nil }

    /// What this listener exposes, for the startup log and `check`: a remote plaintext listener,
    /// a weak upstream TLS mode.
    public var exposures: [String] {
        var found: [String] = []
        if isRemoteWithoutClientTLS {
            found.append("listening beyond loopback without client_tls: clients on other hosts log in with this proxy's IAM identity, "
                         + "and their queries cross the network in plaintext; set client_tls")
        }
        if let exposure = tls.exposure { found.append(exposure) }
        return found
    }

    /// The TCP address this listener binds, when other hosts can reach it.
    private var remoteAddress: HostAndPort? {
        guard case .tcp(let address) = listen, !address.isLoopback else { return nil }
        return address
    }

    /// A region that will make every token fail: `iam_region` naming another region than the
    /// RDS host name does, or not shaped like a region at all (a typo signs for nowhere).
    public var regionWarning: String? {
        guard let region = iamRegion else { return nil }
        if let hostRegion = RDSEndpoint(host: signingHost)?.region, hostRegion != region {
            return "listener \(name): iam_region \(region) differs from the region in \(signingHost) (\(hostRegion)); "
                + "tokens are signed for \(region) and the server will refuse them unless iam_host is right"
        }
        if region.wholeMatch(of: /[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+/) == nil {
            return "listener \(name): iam_region \(region) does not look like an AWS region (such as us-east-1)"
        }
        return nil
    }

    /// Said once at start (and by `check`): the host names a region other than the default one,
    /// and the host's wins — deliberately, where botocore would sign with the default region
    /// and make a token the server refuses.
    func hostRegionNote(defaultRegion: String, source: String) -> String? {
        guard iamRegion == nil, let hostRegion = RDSEndpoint(host: signingHost)?.region, hostRegion != defaultRegion else { return nil }
        return "listener \(name): tokens are signed for \(hostRegion), the region in \(signingHost), not for \(defaultRegion) (from \(source)), "
            + "which is only used for hosts that name no region; set iam_region to override"
    }

    public var signingHost: String { iamHost ?? upstream.host }
    public var signingPort: Int { iamDefaultPort ?? upstream.port }
}
