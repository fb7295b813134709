import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresWire

/// A deliberately dumb client for wire-level checks: it writes the given bytes (optionally
/// over TLS), then collects everything the proxy answers until it closes or `until` matches.
enum RawPostgresClient {
    struct Answer {
        var bytes: ByteBuffer
        var closed: Bool

        /// The ErrorResponse the proxy sent, if any.
        var error: ErrorResponse? {
            var copy = bytes
            while let message = try? BackendMessage.decode(from: &copy) {
                if message.type == BackendMessage.errorResponse { return try? ErrorResponse(body: message.body) }
            }
            return nil
        }

        var messageTypes: [Character] {
            var copy = bytes
            var types: [Character] = []
            while let message = try? BackendMessage.decode(from: &copy) { types.append(Character(UnicodeScalar(message.type))) }
            return types
        }
    }

    static func exchange(port: Int, send: [ByteBuffer], tls: NIOSSLContext? = nil, serverName: String? = nil,
                         until: @escaping @Sendable (ByteBuffer) -> Bool = { _ in false }, timeout: TimeAmount = .seconds(20)) async throws -> Answer {
        let collected = NIOLockedValueBox(ByteBuffer())
        let finished = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Bool.self)
        let connecting = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try channel.pipeline.syncOperations.addHandler(Collector(collected: collected, finished: finished, until: until))
                }
            }
            .connect(host: "127.0.0.1", port: port)
        let channel: any Channel
        do {
            channel = try await connecting.get()
        } catch {
            finished.succeed(true)  // nothing will complete it otherwise
            throw error
        }
        for bytes in send {
            // The proxy may close first (a refusal is often what a test is after): keep what it answered.
            do { try await channel.writeAndFlush(bytes) } catch { break }
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) { finished.succeed(false) }
        let closed = try await finished.futureResult.get()
        timer.cancel()
        try? await channel.close()
        return Answer(bytes: collected.withLockedValue { $0 }, closed: closed)
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let collected: NIOLockedValueBox<ByteBuffer>
        let finished: EventLoopPromise<Bool>
        let until: @Sendable (ByteBuffer) -> Bool

        init(collected: NIOLockedValueBox<ByteBuffer>, finished: EventLoopPromise<Bool>, until: @escaping @Sendable (ByteBuffer) -> Bool) {
            self.collected = collected
            self.finished = finished
            self.until = until
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            let all = collected.withLockedValue { buffer in
                buffer.writeBuffer(&bytes)
                return buffer
            }
            if until(all) { finished.succeed(false) }
        }

        func channelInactive(context: ChannelHandlerContext) { finished.succeed(true) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    static func startup(user: String, database: String = "appdb", version: (UInt16, UInt16) = (3, 0), extra: [(String, String)] = []) -> ByteBuffer {
        FrontendMessages.startup(version: .init(major: version.0, minor: version.1), parameters: [("user", user), ("database", database)] + extra)
    }

    /// A simple-protocol Query message.
    static func query(_ sql: String) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt8(ascii: "Q"))
        bytes.writeInteger(Int32(4 + sql.utf8.count + 1))
        bytes.writeString(sql)
        bytes.writeInteger(UInt8(0))
        return bytes
    }

    /// True once a ReadyForQuery message has arrived.
    static let readyForQuery: @Sendable (ByteBuffer) -> Bool = { buffer in
        var copy = buffer
        while let message = try? BackendMessage.decode(from: &copy) {
            if message.type == BackendMessage.readyForQuery { return true }
        }
        return false
    }
}
