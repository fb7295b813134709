import Logging
import Synchronization

/// SIGHUP: the listeners of a re-read configuration file replace the running ones. Unchanged
/// listeners (and their sessions) are untouched; removed ones stop accepting while their open
/// sessions go on; changed ones are rebound with the new settings (open sessions keep the old).
extension ProxyServer {
    public struct ReloadSummary: Sendable, Equatable, CustomStringConvertible {
        public var added: [String] = []
        public var removed: [String] = []
        public var changed: [String] = []
        public var failed: [String] = []

        public var description: String {
            [("added", added), ("removed", removed), ("changed", changed), ("failed", failed)]
                .filter { !$0.1.isEmpty }.map { "\($0.0): \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
        }
    }

    @discardableResult
    public func reload(_ new: ProxyConfiguration) async -> ReloadSummary {
        var summary = ReloadSummary()
        // Everything must validate before anything changes.
        let problems = new.listeners.compactMap { listener -> ProxyStartError? in
            do throws(ProxyStartError) {
                _ = try makeRuntime(for: listener)
                return nil
            } catch {
                return error
            }
        }
        guard problems.isEmpty else {
            reloadFailed(problems.map(\.description).joined(separator: "; "))
            summary.failed = problems.map(\.listener)
            return summary
        }
        for setting in restartOnlySettings(new) {
            logger.warning("configuration reload: \(setting) changes need a restart; keeping the running value")
        }
        let running = bound.withLock { $0 }
        let wanted = Dictionary(new.listeners.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var kept: [BoundListener] = []
        for entry in running {
            let name = entry.runtime.configuration.name
            if let replacement = wanted[name], replacement == entry.runtime.configuration {
                kept.append(entry)
            } else {
                await entry.close()
                if wanted[name] == nil { summary.removed.append(name) }
            }
        }
        let keptNames = Set(kept.map(\.runtime.configuration.name))
        for listener in new.listeners where !keptNames.contains(listener.name) {
            let isChange = running.contains { $0.runtime.configuration.name == listener.name }
            do {
                let entry = try await bind(listener)
                kept.append(entry)
                announce(entry)
                if isChange { summary.changed.append(listener.name) } else { summary.added.append(listener.name) }
            } catch {
                logger.error("configuration reload: listener could not start", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                summary.failed.append(listener.name)
            }
        }
        let order = new.listeners.map(\.name)
        bound.withLock { $0 = kept.sorted { (order.firstIndex(of: $0.runtime.configuration.name) ?? 0) < (order.firstIndex(of: $1.runtime.configuration.name) ?? 0) } }
        metrics.increment(ProxyMetrics.reloads, [("result", summary.failed.isEmpty ? "ok" : "failed")])
        logger.info("configuration reloaded", metadata: ["changes": "\(summary.description.isEmpty ? "none" : summary.description)"])
        return summary
    }

    /// A reload that could not even start (unreadable or invalid file): counted and logged;
    /// the running configuration stays.
    public func reloadFailed(_ reason: String) {
        metrics.increment(ProxyMetrics.reloads, [("result", "failed")])
        logger.error("configuration reload failed; keeping the running configuration", metadata: ["error": "\(reason)"])
    }

    private func restartOnlySettings(_ new: ProxyConfiguration) -> [String] {
        var settings: [String] = []
        if new.aws != configuration.aws { settings.append("aws") }
        if new.http != configuration.http { settings.append("http") }
        if new.maxConnections != configuration.maxConnections { settings.append("max_connections") }
        if new.minSigtermDelay != configuration.minSigtermDelay || new.maxSigtermDelay != configuration.maxSigtermDelay
            || new.exitZeroOnSigterm != configuration.exitZeroOnSigterm
        {
            settings.append("sigterm settings")
        }
        return settings
    }
}
