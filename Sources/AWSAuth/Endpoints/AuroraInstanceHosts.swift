/// Where an Aurora cluster's instances are reached: instance endpoints follow the cluster
/// endpoint's pattern, `<instance-id>.<hash>.<region>.rds.<suffix>` for a cluster (writer) or
/// reader endpoint `<name>.cluster-<hash>…` / `<name>.cluster-ro-<hash>…`, as the AWS wrappers
/// derive them. A pattern is a host name with `?` where the instance id goes
/// (`instance_host_pattern`, overridable for private DNS names). Pure.
public enum AuroraInstanceHosts {
    /// The pattern of a cluster or reader endpoint's instances; nil for any other host
    /// (instances, custom endpoints, RDS Proxy, global writers, names RDS did not give).
    public static func pattern(forCluster host: String) -> String? {
        guard let endpoint = RDSEndpoint(host: host), endpoint.kind == .clusterWriter || endpoint.kind == .clusterReader else { return nil }
        var labels = host.lowercased().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.last?.isEmpty == true { labels.removeLast() }
        guard labels.count > 2 else { return nil }
        let prefix = endpoint.kind == .clusterReader ? "cluster-ro-" : "cluster-"
        guard labels[1].hasPrefix(prefix) else { return nil }
        labels[0] = "?"
        labels[1] = String(labels[1].dropFirst(prefix.count))
        return labels.joined(separator: ".")
    }

    /// Whether `pattern` can name instances: one `?`, and a host name around it.
    public static func isValidPattern(_ pattern: String) -> Bool {
        pattern.filter { $0 == "?" }.count == 1 && host(instance: "a", pattern: pattern).contains(".")
    }

    /// The host of `instance` under `pattern`.
    public static func host(instance: String, pattern: String) -> String {
        pattern.split(separator: "?", omittingEmptySubsequences: false).joined(separator: instance)
    }
}
