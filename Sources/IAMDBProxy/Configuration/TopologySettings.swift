import AWSAuth

/// The Aurora-aware routing keys of a listener (`topology`, `instance_host_pattern`,
/// `monitor_user`, `topology_refresh`, `reader_fallback`): whether the proxy reads the
/// cluster's instances and dials the writer (or a reader) by its instance endpoint instead of
/// trusting the cluster endpoint's DNS, which lags a failover by seconds to minutes.
public struct TopologySettings: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Aurora when the upstream is a cluster (`cluster-`) or reader (`cluster-ro-`) endpoint.
        case auto
        case aurora
        case none
    }

    public enum ReaderFallback: String, Sendable, Equatable, CaseIterable {
        /// A reader listener with no reader up sends its sessions to the writer.
        case writer
        /// … or refuses them.
        case fail
    }

    public var mode = Mode.auto
    /// Instance endpoints: a host name with `?` for the instance id (default: from the cluster host).
    public var instanceHostPattern: String?
    /// The user the monitoring session logs in as (default: the first user that logged in).
    public var monitorUser: String?
    /// Seconds between topology reads while the cluster is steady.
    public var refreshSeconds: Double = 30
    public var readerFallback = ReaderFallback.writer

    public init() {}

    /// The database a configured `monitor_user` logs in to on PostgreSQL (every Aurora
    /// PostgreSQL cluster has it; a MySQL monitoring login names none).
    public static let monitorDatabase = "postgres"

    /// The instance pattern in force for `upstreamHost`, when the listener follows a topology:
    /// `aurora` (or `auto` with a cluster endpoint) and a pattern, set or derived.
    public func instancePattern(upstreamHost: String) -> String? {
        let derived = AuroraInstanceHosts.pattern(forCluster: upstreamHost)
        switch mode {
        case .none: return nil
        case .auto: return derived.map { instanceHostPattern ?? $0 }
        case .aurora: return instanceHostPattern ?? derived
        }
    }

    /// For `check` and the startup line.
    public func summary(upstreamHost: String, role: ListenerConfiguration.Role) -> String {
        guard let pattern = instancePattern(upstreamHost: upstreamHost) else { return "topology none (stale-DNS guard only, role \(role.rawValue))" }
        return "topology aurora (role \(role.rawValue), instances \(pattern), monitor_user \(monitorUser ?? "the first user that logs in"), "
            + "topology_refresh \(Int(refreshSeconds)) s" + (role == .reader ? ", reader_fallback \(readerFallback.rawValue))" : ")")
    }
}
