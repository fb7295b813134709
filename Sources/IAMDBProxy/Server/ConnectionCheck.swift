import Logging
import MySQLWire
import NIOCore
import NIOPosix
import PostgresWire

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
        var outcomes: [Outcome] = []
        for listener in probe.listeners {
            guard let loginUser = user ?? listener.users?.first else {
                outcomes.append(.init(listener: listener.name, problem: "skipped: no user to log in as; give --user or a users list", detail: ""))
                continue
            }
            guard let port = addresses[listener.name]?.port else { continue }
            let answer: String?
            do {
                answer = try await logIn(listener.engine, port: port, user: loginUser, database: database)
            } catch {
                answer = "\(error)"
            }
            outcomes.append(.init(listener: listener.name, problem: answer,
                                  detail: "logged in to \(listener.upstream) as \(loginUser) over TLS (\(listener.tls.mode.rawValue))"))
        }
        return outcomes
    }

    /// Logs in through the proxy on `port`; returns the error the client would see, or nil.
    static func logIn(_ engine: ListenerConfiguration.Engine, port: Int, user: String, database: String?) async throws -> String? {
        let reader = ReplyReader(engine: engine, user: user, database: database)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(30))
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) } }
            .connect(host: "127.0.0.1", port: port).get()
        if engine == .postgres {
            // `postgres` exists on every server (RDS too) and PUBLIC may connect to it, unlike
            // PostgreSQL's default of a database named after the user.
            let parameters = [("user", user), ("database", database ?? "postgres")]
            try await channel.writeAndFlush(FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: parameters))
        }
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(60)) { reader.verdict.fail(ChannelError.connectTimeout(.seconds(60))) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await reader.verdict.futureResult.get()
    }

    /// Reads the login's outcome: ReadyForQuery or ErrorResponse (PostgreSQL); the greeting,
    /// then OK or ERR (MySQL, after answering the greeting).
    private final class ReplyReader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let engine: ListenerConfiguration.Engine
        let user: String
        let database: String?
        private var buffer = ByteBuffer()
        private var greeted = false
        private var promise: EventLoopPromise<String?>?
        var verdict: EventLoopPromise<String?> { promise! }

        init(engine: ListenerConfiguration.Engine, user: String, database: String?) {
            self.engine = engine
            self.user = user
            self.database = database
        }

        func handlerAdded(context: ChannelHandlerContext) { promise = context.eventLoop.makePromise() }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            buffer.writeBuffer(&bytes)
            engine == .postgres ? readPostgres() : readMySQL(context: context)
        }

        private func readPostgres() {
            while let message = try? BackendMessage.decode(from: &buffer) {
                if message.type == BackendMessage.readyForQuery { return verdict.succeed(nil) }
                if message.type == BackendMessage.errorResponse {
                    return verdict.succeed((try? ErrorResponse(body: message.body)).map { "\($0)" } ?? "error")
                }
            }
        }

        private func readMySQL(context: ChannelHandlerContext) {
            while let frame = PacketFrame.decode(from: &buffer) {
                if frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) == 0xFF {
                    return verdict.succeed((try? ErrorPacket(payload: frame.payload)).map { "\($0)" } ?? "error")
                }
                guard greeted else {
                    greeted = true
                    var flags = CapabilityFlags.minimalClient
                    if database != nil { flags.insert(.connectWithDB) }
                    let response = HandshakeResponse(capabilities: flags, characterSet: 45, user: user, database: database,
                                                     authPluginName: "mysql_native_password")
                    var packet = ByteBuffer()
                    PacketFrame(sequenceID: 1, payload: response.encode()).encode(into: &packet)
                    context.writeAndFlush(NIOAny(packet), promise: nil)
                    continue
                }
                return verdict.succeed(nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) { verdict.succeed("the proxy closed the connection") }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { verdict.fail(error) }
    }
}
