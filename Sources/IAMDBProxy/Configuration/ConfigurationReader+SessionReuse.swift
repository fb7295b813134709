import Yams

/// Reads a listener's `session_reuse` mapping. Its own file: eight keys with their bounds and
/// the rules between them, which `ConfigurationLoader` need not carry.
extension ConfigurationReader {
    static let sessionReuseKeys = ["mode", "min_idle", "max_idle", "max_total", "max_lifetime", "max_uses", "idle_timeout", "ready_min_idle"]

    func sessionReuse(_ node: Node, _ path: String, engine: ListenerConfiguration.Engine) throws(ConfigurationError) -> SessionReuseSettings {
        let keys = try mapping(node, path, known: Self.sessionReuseKeys)
        var settings = SessionReuseSettings()
        if let text = try string(keys["mode"], "\(path).mode") {
            guard let mode = SessionReuseSettings.Mode(rawValue: text) else {
                throw error(keys["mode"], "\(path).mode", "must be off, warm or reuse (got \(text))")
            }
            settings.mode = mode
        }
        if let value = try integer(keys["min_idle"], "\(path).min_idle", range: 0...10_000) { settings.minIdle = value }
        if let value = try integer(keys["max_idle"], "\(path).max_idle", range: 0...10_000) { settings.maxIdle = value }
        if let value = try integer(keys["max_total"], "\(path).max_total", range: 0...100_000) { settings.maxTotal = value }
        if let value = try seconds(keys["max_lifetime"], "\(path).max_lifetime") { settings.maxLifetimeSeconds = value }
        if let value = try integer(keys["max_uses"], "\(path).max_uses", range: 1...1_000_000_000) { settings.maxUses = value }
        if let value = try seconds(keys["idle_timeout"], "\(path).idle_timeout") { settings.idleTimeoutSeconds = value }
        if let value = try integer(keys["ready_min_idle"], "\(path).ready_min_idle", range: 0...10_000) { settings.readyMinIdle = value }
        guard settings.isOn else { return settings }
        if engine == .mysql, settings.mode == .warm || settings.minIdle > 0 {
            throw error(keys["min_idle"] ?? keys["mode"], "\(path).\(keys["min_idle"] == nil ? "mode" : "min_idle")",
                        "warm sessions (min_idle) are for postgres listeners so far; a mysql listener takes mode: reuse with min_idle 0")
        }
        if settings.mode == .warm, settings.minIdle == 0 {
            throw error(keys["min_idle"] ?? keys["mode"], "\(path).min_idle", "warm needs min_idle of 1 or more: the sessions to keep logged in per key")
        }
        if settings.minIdle > settings.maxIdle {
            throw error(keys["min_idle"], "\(path).min_idle", "must not exceed max_idle (\(settings.maxIdle))")
        }
        if settings.readyMinIdle > settings.minIdle {
            throw error(keys["ready_min_idle"], "\(path).ready_min_idle", "must not exceed min_idle (\(settings.minIdle)): readiness would never come")
        }
        return settings
    }
}
