import NIOHTTP1

/// What each admin endpoint answers, read from the running proxy.
struct AdminRoutes: Sendable {
    let status: any AdminStatus
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
            if let reason = await notReadyReason() { return .init(status: .serviceUnavailable, body: reason + "\n") }
            return ok
        case "/metrics":
            return .init(status: .ok, body: status.metricsExposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/quitquitquit":
            guard method == .POST else { return .init(status: .methodNotAllowed, body: "use POST\n") }
            status.requestShutdown()
            return .init(status: .ok, body: "shutting down\n")
        default:
            return .init(status: .notFound, body: "not found; try /startup, /liveness, /readiness, /metrics or POST /quitquitquit\n")
        }
    }

    private func notReadyReason() async -> String? {
        if !status.isStarted { return "starting" }
        if status.isShuttingDown { return "shutting down" }
        let unbound = status.unboundListeners
        if !unbound.isEmpty { return "not listening: \(unbound.joined(separator: ", ")) (the last reload could not bind \(unbound.count == 1 ? "it" : "them"))" }
        if let full = status.fullReason { return full }
        let status = self.status
        let outcome: String? = await withTaskGroup(of: String?.self) { group in
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
        return outcome
    }
}
