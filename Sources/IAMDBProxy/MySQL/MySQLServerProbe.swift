import Logging
import MySQLWire
import NIOCore
import NIOPosix

/// Reads a MySQL server's greeting once, when a listener starts, so the first clients are
/// greeted like the server. The server counts this as one aborted connect; sessions that
/// follow log in properly and refresh what was learned.
enum MySQLServerProbe {
    /// One look at the server's greeting, so the first clients are greeted like it. An
    /// unreachable server is not fatal: clients get a conservative greeting until it answers.
    static func learnGreeting(into cache: MySQLGreetingCache, for runtime: ListenerRuntime, on eventLoop: any EventLoop, logger: Logger) async {
        do {
            let greeting = try await greeting(of: runtime, on: eventLoop)
            cache.learn(greeting)
            logger.info("learned the MySQL server greeting", metadata: [
                "listener": "\(runtime.configuration.name)", "server_version": "\(greeting.serverVersion)",
            ])
        } catch {
            logger.warning("could not read the MySQL server greeting; clients get a conservative one until a login succeeds", metadata: [
                "listener": "\(runtime.configuration.name)", "error": "\(error)",
            ])
        }
    }

    static func greeting(of runtime: ListenerRuntime, on eventLoop: any EventLoop) async throws -> ServerGreeting {
        let promise = eventLoop.makePromise(of: ServerGreeting.self)
        let target = try await runtime.resolver.target(on: eventLoop).get()
        let connecting = ClientBootstrap(group: eventLoop)
            .connectTimeout(runtime.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GreetingReader(promise: promise))
                }
            }
            .connect(host: target.host, port: target.port)
        let channel: any Channel
        do {
            channel = try await connecting.get()
        } catch {
            promise.fail(error)
            throw error
        }
        let timeout = eventLoop.scheduleTask(in: runtime.connectTimeout) {
            promise.fail(ChannelError.connectTimeout(runtime.connectTimeout))
        }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    private final class GreetingReader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let promise: EventLoopPromise<ServerGreeting>
        private var buffer = ByteBuffer()

        init(promise: EventLoopPromise<ServerGreeting>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            buffer.writeBuffer(&bytes)
            guard let frame = PacketFrame.decode(from: &buffer) else { return }
            if let error = try? ErrorPacket(payload: frame.payload) {
                promise.fail(error)
            } else {
                promise.completeWith(Result { try ServerGreeting(payload: frame.payload) })
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
        }
    }
}
