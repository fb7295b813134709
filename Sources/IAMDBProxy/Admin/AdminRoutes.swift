import NIOHTTP1

/// What each admin endpoint answers, read from the running proxy.
struct AdminRoutes: Sendable {
    let status: any AdminStatus
    /// The optional conditions `/readiness` needs.
    let checks: Set<ProxyConfiguration.ReadinessCheck>
    /// A readiness probe must answer quickly even when the credentials endpoint does not.
    static let credentialsCheckTimeout: Duration = .seconds(2)

    func respond(_ method: HTTPMethod, _ path: String) async -> AdminHTTPServer.Response {
        let ok = AdminHTTPServer.Response(status: .ok, body: "ok\n")
        switch path {
        case "/startup":
            return status.isStarted ? ok : .init(status: .serviceUnavailable, body: "starting\n")
        case "/liveness":
            return ok
        case "/readiness":
            let verdict = await readiness()
            if let reason = verdict.notReady { return .init(status: .serviceUnavailable, body: reason + "\n") }
            return .init(status: .ok, body: (["ok"] + verdict.notes).joined(separator: "\n") + "\n")
        case "/metrics":
            return .init(status: .ok, body: status.metricsExposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/quitquitquit":
            guard method == .POST else { return .init(status: .methodNotAllowed, body: "use POST\n") }
            // After the answer is written: a proxy with nothing to drain exits at once.
            return .init(status: .ok, body: "shutting down\n", afterSending: { [status] in status.requestShutdown() })
        default:
            return .init(status: .notFound, body: "not found; try /startup, /liveness, /readiness, /metrics or POST /quitquitquit\n")
        }
    }

    /// Why the proxy is not ready, if it is not; and conditions it has that readiness was told
    /// to ignore (`http.readiness_checks`), so a 200 still tells the truth.
    private func readiness() async -> (notReady: String?, notes: [String]) {
        let known = readinessWithoutCredentials()
        if known.notReady == nil, checks.contains(.credentials), let problem = await credentialsProblem() { return (problem, known.notes) }
        return known
    }

    /// `/readiness` as far as it is known without waiting on the credentials chain, the cached
    /// credentials standing in for an answer from it (`iam_db_proxy_ready`).
    var isReadyWithoutWaiting: Bool {
        readinessWithoutCredentials().notReady == nil && (!checks.contains(.credentials) || status.holdsCredentials)
    }

    /// Every condition but asking the credentials chain.
    private func readinessWithoutCredentials() -> (notReady: String?, notes: [String]) {
        if !status.isStarted { return ("starting", []) }
        if status.isShuttingDown { return ("shutting down", []) }
        let unbound = status.unboundListeners
        if !unbound.isEmpty { return ("not listening: \(unbound.joined(separator: ", ")) (the last reload could not bind \(unbound.count == 1 ? "it" : "them"))", []) }
        if let shortfall = status.warmShortfall { return (shortfall, []) }
        var notes: [String] = []
        if let full = status.fullReason {
            if checks.contains(.connectionLimit) { return (full, []) }
            notes.append("\(full) (not a readiness check here; see http.readiness_checks)")
        }
        if !checks.contains(.credentials), !status.holdsCredentials {
            // Not asking the chain here: a probe must not wait on a credentials endpoint it does not depend on.
            notes.append("no AWS credentials held now (not a readiness check here; see http.readiness_checks)")
        }
        return (nil, notes)
    }

    private func credentialsProblem() async -> String? {
        let status = self.status
        return await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await status.checkCredentials()
                    return nil
                } catch {
                    return "no AWS credentials: \(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: Self.credentialsCheckTimeout)
                return "no AWS credentials: the credentials provider did not answer within 2 s"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
