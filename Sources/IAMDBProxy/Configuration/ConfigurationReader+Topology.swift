import AWSAuth
import Yams

/// Reads a listener's Aurora routing keys (see `TopologySettings`). Its own file: the rules
/// between them and the upstream host are not `ConfigurationLoader`'s to carry.
extension ConfigurationReader {
    static let topologyKeys = ["topology", "instance_host_pattern", "monitor_user", "topology_refresh", "reader_fallback"]

    func topology(_ keys: [String: Node], _ node: Node, _ path: String, listener: ListenerConfiguration) throws(ConfigurationError) -> TopologySettings {
        var settings = TopologySettings()
        if let text = try string(keys["topology"], "\(path).topology") {
            guard let mode = TopologySettings.Mode(rawValue: text) else {
                throw error(keys["topology"], "\(path).topology", "must be auto, aurora or none (got \(text))")
            }
            settings.mode = mode
        }
        if let pattern = try string(keys["instance_host_pattern"], "\(path).instance_host_pattern") {
            guard AuroraInstanceHosts.isValidPattern(pattern) else {
                throw error(keys["instance_host_pattern"], "\(path).instance_host_pattern",
                            "must be a host name with one ? where the instance id goes, such as \"?.abc123.us-east-1.rds.amazonaws.com\" (got \(pattern))")
            }
            settings.instanceHostPattern = pattern
        }
        settings.monitorUser = try string(keys["monitor_user"], "\(path).monitor_user")
        if let value = try seconds(keys["topology_refresh"], "\(path).topology_refresh") { settings.refreshSeconds = value }
        if let text = try string(keys["reader_fallback"], "\(path).reader_fallback") {
            guard let fallback = TopologySettings.ReaderFallback(rawValue: text) else {
                throw error(keys["reader_fallback"], "\(path).reader_fallback", "must be writer or fail (got \(text))")
            }
            settings.readerFallback = fallback
        }
        let upstreamHost = listener.upstream.host
        let pattern = settings.instancePattern(upstreamHost: upstreamHost)
        if settings.mode == .aurora, pattern == nil {
            throw error(keys["topology"], "\(path).instance_host_pattern",
                        "topology: aurora needs instance_host_pattern: \(upstreamHost) is not an Aurora cluster endpoint, so the instances' names cannot be derived from it")
        }
        if pattern != nil {
            if listener.upstream.isIPAddress {
                throw error(keys["topology"], "\(path).upstream", "a topology needs the cluster's host name, not an IP address")
            }
        } else {
            for key in ["instance_host_pattern", "monitor_user", "topology_refresh", "reader_fallback"] where keys[key] != nil {
                throw error(keys[key], "\(path).\(key)", "applies only with a topology (topology: aurora, or an Aurora cluster endpoint as upstream)")
            }
        }
        return settings
    }
}
