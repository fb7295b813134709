import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Many short client connections, a few dozen at a time, as health probes, port scanners and
/// refused clients make them: each connects, writes its bytes, and then either leaves at once
/// or waits for what it expects (or for the proxy to close) before leaving.
enum ConnectionChurn {
    enum Ending: Sendable {
        /// Close right after connecting and writing.
        case leaveAtOnce
        /// Wait until the answer satisfies the predicate or the proxy closes, then close.
        case waitFor(@Sendable (ByteBuffer) -> Bool)
    }

    struct Outcome: Sendable {
        /// Connections that got what they waited for (or left at once as planned).
        var served = 0
        /// Connections that timed out or could not connect.
        var failed = 0
    }

    static func run(port: Int, count: Int, concurrency: Int = 32, send: ByteBuffer? = nil, ending: Ending,
                    timeout: TimeAmount = .seconds(20)) async -> Outcome {
        await withTaskGroup(of: Outcome.self) { group in
            for worker in 0..<concurrency {
                let share = count / concurrency + (worker < count % concurrency ? 1 : 0)
                group.addTask {
                    var outcome = Outcome()
                    for _ in 0..<share {
                        if await once(port: port, send: send, ending: ending, timeout: timeout) { outcome.served += 1 } else { outcome.failed += 1 }
                    }
                    return outcome
                }
            }
            var total = Outcome()
            for await part in group {
                total.served += part.served
                total.failed += part.failed
            }
            return total
        }
    }

    private static func once(port: Int, send: ByteBuffer?, ending: Ending, timeout: TimeAmount) async -> Bool {
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: Bool.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if case .waitFor(let predicate) = ending {
                            try channel.pipeline.syncOperations.addHandler(Waiter(done: done, predicate: predicate))
                        }
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            done.succeed(false)
            return false
        }
        if let send { try? await channel.writeAndFlush(send) }
        guard case .waitFor = ending else {
            done.succeed(true)
            try? await channel.close()
            return true
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) { done.succeed(false) }
        let served = (try? await done.futureResult.get()) ?? false
        timer.cancel()
        try? await channel.close()
        return served
    }

    private final class Waiter: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<Bool>
        let predicate: @Sendable (ByteBuffer) -> Bool
        let received = NIOLockedValueBox(ByteBuffer())

        init(done: EventLoopPromise<Bool>, predicate: @escaping @Sendable (ByteBuffer) -> Bool) {
            self.done = done
            self.predicate = predicate
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            let all = received.withLockedValue { buffer in
                buffer.writeBuffer(&bytes)
                return buffer
            }
            if predicate(all) { done.succeed(true) }
        }

        /// The proxy closing is an answer too (a refused login ends that way).
        func channelInactive(context: ChannelHandlerContext) { done.succeed(true) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
