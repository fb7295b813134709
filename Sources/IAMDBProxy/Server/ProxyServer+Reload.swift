import Logging
import Synchronization

/// SIGHUP: the listeners of a re-read configuration file replace the running ones. Unchanged
/// listeners (and their sessions) are untouched; removed ones stop accepting while their open
/// sessions go on; changed ones serve new sessions with the new settings (open sessions keep the
/// old) on the same socket, or, for a new address, on a new socket bound before the old one
/// closes. A listener that cannot start leaves the old one serving (or, if new, the proxy not
/// ready) and the reload reported failed.
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
        if hostOverrides.replace(with: new.resolve) {
            logger.info("configuration reload: resolve changed; new connections use it", metadata: ["hosts": "\(new.resolve.keys.sorted().joined(separator: ","))"])
        }
        let running = bound.withLock { $0 }
        let wanted = Dictionary(new.listeners.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var kept: [BoundListener] = []
        var missing: [String] = []
        for entry in running where wanted[entry.runtime.configuration.name] == nil {
            await entry.close()
            summary.removed.append(entry.runtime.configuration.name)
        }
        for listener in new.listeners {
            let current = running.first { $0.runtime.configuration.name == listener.name }
            if let current, current.runtime.configuration == listener {
                kept.append(current)
                continue
            }
            do {
                let contents = try await prepare(listener)
                if let current, current.runtime.configuration.listen == listener.listen {
                    // Same address: the socket stays; new sessions get the new settings (and a pool of their own).
                    let replaced = current.runtime
                    current.slot.replace(with: contents)
                    replaced.sessionPool.closeAll()
                    replaced.retireTopologyMonitor()
                    if case .unix(let path) = listener.listen { try? UnixSocketFile.setMode(path, listener.unixSocketMode) }
                    kept.append(current)
                    announce(current)
                } else {
                    // A new address is bound before the old one closes; if it cannot be, the old one serves on.
                    let entry = try await bind(listener, slot: ListenerSlot(contents))
                    if let current { await current.close() }
                    kept.append(entry)
                    announce(entry)
                }
                if current != nil { summary.changed.append(listener.name) } else { summary.added.append(listener.name) }
            } catch {
                logger.error("configuration reload: listener could not start", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                summary.failed.append(listener.name)
                if let current {
                    logger.warning("configuration reload: the listener goes on with its previous settings", metadata: ["listener": "\(listener.name)"])
                    kept.append(current)
                } else {
                    missing.append(listener.name)
                }
            }
        }
        bound.withLock { $0 = kept }
        unbound.withLock { $0 = missing }
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
        if new.eventLoops != configuration.eventLoops { settings.append("event_loops") }
        if new.minSigtermDelay != configuration.minSigtermDelay || new.maxSigtermDelay != configuration.maxSigtermDelay
            || new.exitZeroOnSigterm != configuration.exitZeroOnSigterm
        {
            settings.append("sigterm settings")
        }
        return settings
    }
}
