/// The whole configuration: AWS settings shared by every listener, and the listeners.
public struct ProxyConfiguration: Sendable, Equatable {
    public struct AWSSettings: Sendable, Equatable {
        /// Default region for listeners whose host names none (`aws.region`).
        public var region: String?
        /// A named profile from the shared AWS files (skips environment credentials).
        public var profile: String?

        public init(region: String? = nil, profile: String? = nil) {
            self.region = region
            self.profile = profile
        }
    }

    /// The admin HTTP server (health, metrics, quitquitquit); off unless given.
    public struct HTTPSettings: Sendable, Equatable {
        public var listen: HostAndPort
        /// With it, `POST /quitquitquit` needs `Authorization: Bearer <token>` (from anywhere);
        /// without it, only peers on this host may ask.
        public var adminToken: String?
        /// What besides bound listeners `/readiness` needs (`http.readiness_checks`). None by
        /// default: a proxy is mostly a sidecar, and failing readiness there takes the whole pod
        /// out of its Service, so a credentials blip would pull every pod at once.
        public var readinessChecks: Set<ReadinessCheck>
        public init(listen: HostAndPort, adminToken: String? = nil, readinessChecks: Set<ReadinessCheck> = []) {
            self.listen = listen
            self.adminToken = adminToken
            self.readinessChecks = readinessChecks
        }
    }

    /// An optional condition of readiness.
    public enum ReadinessCheck: String, Sendable, CaseIterable, Comparable {
        /// The AWS credentials chain can give credentials now.
        case credentials
        /// `max_connections` leaves room for a new session.
        case connectionLimit = "connection_limit"

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var aws = AWSSettings()
    public var http: HTTPSettings?
    public var listeners: [ListenerConfiguration] = []
    /// Sessions open at once over all listeners (nil: no limit but the descriptor limit).
    public var maxConnections: Int?
    /// After SIGTERM: seconds to keep accepting (while readiness already says no), then seconds
    /// open sessions may take to finish before they are ended. The drain's default stays
    /// under the 30 s Kubernetes and ECS give a container before SIGKILL.
    public var minSigtermDelay: Double = 0
    public var maxSigtermDelay: Double = Self.defaultMaxSigtermDelay
    public static let defaultMaxSigtermDelay: Double = 25
    /// Exit 0 after SIGTERM even when sessions had to be cut.
    public var exitZeroOnSigterm = false
    /// `resolve:`: upstream host names dialed at a fixed address (host → IP), like curl's `--resolve`.
    public var resolve: [String: String] = [:]
    /// `event_loops`: threads relaying sessions (nil: `auto`, see `eventLoopCount(cores:)`).
    public var eventLoops: Int?

    /// The event loops to run on a machine with `cores` cores. `auto` takes half the cores (at
    /// least one): the proxy shares its machine with the app (a sidecar), and on a busy machine
    /// each extra loop thread wakes up for fewer ready sessions, so a transaction costs more CPU
    /// and waits longer behind other processes (Benchmarks/results/e2e-analysis.md: on 2 cores
    /// one loop used 13 % less CPU per transaction and halved p99 against two).
    public func eventLoopCount(cores: Int) -> Int {
        eventLoops ?? max(1, cores / 2)
    }

    public init(aws: AWSSettings = .init(), listeners: [ListenerConfiguration] = [], maxConnections: Int? = nil) {
        self.aws = aws
        self.listeners = listeners
        self.maxConnections = maxConnections
    }
}

/// A `host:port` pair as written in the configuration (`[::1]:5432` for IPv6).
public struct HostAndPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[v6]:port`, or `host` alone when `defaultPort` is given.
    public init?(_ text: String, defaultPort: Int? = nil) {
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if let colon = host.lastIndex(of: ":") {
            guard host.firstIndex(of: ":") == colon else { return nil }  // bare IPv6 needs brackets
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard !host.isEmpty else { return nil }
        let port: Int
        if let portText {
            guard let parsed = Int(portText), (0...65_535).contains(parsed) else { return nil }
            port = parsed
        } else if let defaultPort {
            port = defaultPort
        } else {
            return nil
        }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var isIPAddress: Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }
}
