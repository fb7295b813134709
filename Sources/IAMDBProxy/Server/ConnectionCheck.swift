import Logging
import NIOCore
import NIOPosix

/// `check --connect`: starts the configured listeners on private loopback ports and logs in
/// through each one as a client would, so the whole path is proved (credentials, signing,
/// DNS, TCP, TLS verification, the server accepting the token), then stops them.
public enum ConnectionCheck {
    public struct Outcome: Sendable {
        public let listener: String
        /// nil when the login succeeded.
        public let problem: String?
        public let detail: String
    }

    public static func run(_ configuration: ProxyConfiguration, user: String?, database: String?, logger: Logger) async throws -> [Outcome] {
        var probe = configuration
        probe.http = nil
        for index in probe.listeners.indices {
            probe.listeners[index].listen = .tcp(HostAndPort(host: "127.0.0.1", port: 0))
        }
        let server = ProxyServer(configuration: probe, logger: logger)
        let addresses = try await server.start()
        defer { Task { await server.stopListening() } }
        // All listeners at once: a slow or unreachable upstream costs its own timeout only.
        return await withTaskGroup(of: (Int, Outcome).self) { group in
            for (index, listener) in probe.listeners.enumerated() {
                guard let loginUser = user ?? listener.users?.first else {
                    group.addTask { (index, .init(listener: listener.name, problem: "skipped: no user to log in as; give --user or a users list", detail: "")) }
                    continue
                }
                guard let port = addresses[listener.name]?.port else { continue }
                let source = listener.auth.checkDescription
                group.addTask {
                    let answer: String?
                    do {
                        answer = try await logIn(listener.engine, port: port, user: loginUser, database: database)
                    } catch {
                        answer = "\(error)"
                    }
                    return (index, .init(listener: listener.name, problem: answer.map { "\($0) (\(loginUser)'s password: \(source))" },
                                         detail: "logged in to \(listener.upstream) as \(loginUser) with \(source) over TLS (\(listener.tls.mode.rawValue))"))
                }
            }
            var outcomes: [(Int, Outcome)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Logs in through the proxy on `port`; returns the error the client would see, or nil.
    static func logIn(_ engine: ListenerConfiguration.Engine, port: Int, user: String, database: String?) async throws -> String? {
        let login = engine.makeCheckLogin(user: user, database: database)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(30))
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(login) } }
            .connect(host: "127.0.0.1", port: port).get()
        if let first = login.firstMessage { try await channel.writeAndFlush(first) }
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(60)) { login.verdict.fail(ChannelError.connectTimeout(.seconds(60))) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await login.verdict.futureResult.get()
    }
}

extension ListenerConfiguration.Auth {
    /// Where a listener's users' password comes from, in the words `check --connect` prints.
    var checkDescription: String {
        switch self {
        case .iam: "an IAM auth token"
        case .secret(let settings): "the password in Secrets Manager secret \(settings.secretID) (\(settings.versionStage))"
        }
    }
}
