import Foundation
import NIOCore
import PostgresWire

/// The PostgreSQL side of the topology monitor: logs in with no client (`PostgresHeadlessLogin`,
/// no writable check: the reading says it) and reads `aurora_replica_status()` on that session
/// whenever asked (`AuroraTopologyQuery`).
struct PostgresTopologyProbe: TopologyProbe {
    func open(host: HostAndPort, user: String, database: String, runtime: ListenerRuntime, on eventLoop: any EventLoop) -> EventLoopFuture<any TopologySession> {
        let promise = eventLoop.makePromise(of: (any TopologySession).self)
        eventLoop.execute {
            let startup = FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: [
                ("user", user), ("database", database), ("application_name", "iam-db-proxy topology monitor"),
            ])
            PostgresHeadlessLogin.start(startup: startup, host: host, checksWritable: false, runtime: runtime, on: eventLoop) { result in
                switch result {
                case .success(let login):
                    let reader = PostgresTopologyReader(host: host, closeFuture: login.channel.closeFuture)
                    do {
                        try login.channel.pipeline.syncOperations.addHandler(reader)
                        promise.assumeIsolated().succeed(reader)
                    } catch {
                        login.channel.close(promise: nil)
                        promise.fail(error)
                    }
                case .failure(let failure):
                    promise.fail(failure)
                }
            }
        }
        return promise.futureResult
    }
}

/// The monitoring session's handler: one topology query at a time, its answer read with the
/// pure `AuroraTopologyQuery`.
final class PostgresTopologyReader: ChannelInboundHandler, TopologySession {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let host: HostAndPort
    /// The monitoring session's channel's.
    let closeFuture: EventLoopFuture<Void>
    private var context: ChannelHandlerContext?
    private var pending: (query: AuroraTopologyQuery, promise: EventLoopPromise<(inRecovery: Bool, topology: AuroraTopology)>)?
    private var buffer = ByteBuffer()

    init(host: HostAndPort, closeFuture: EventLoopFuture<Void>) {
        self.host = host
        self.closeFuture = closeFuture
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func read() -> EventLoopFuture<(inRecovery: Bool, topology: AuroraTopology)> {
        guard let context else { return closeFuture.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        let promise = context.eventLoop.makePromise(of: (inRecovery: Bool, topology: AuroraTopology).self)
        guard pending == nil else {
            promise.fail(ChannelError.inappropriateOperationForState)
            return promise.futureResult
        }
        let query = AuroraTopologyQuery()
        pending = (query, promise)
        context.writeAndFlush(wrapOutboundOut(query.request), promise: nil)
        return promise.futureResult
    }

    func close() { context?.close(promise: nil) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        guard var exchange = pending else {
            // A server that speaks unasked (a notice before shutting down): nothing to keep.
            buffer.clear()
            return
        }
        let outcome = exchange.query.serverBytes(&buffer)
        pending = exchange
        switch outcome {
        case .pending:
            return
        case .read(let reading):
            pending = nil
            exchange.promise.succeed((reading.inRecovery, AuroraTopology(epochRows: reading.rows, serverNow: reading.serverNow)))
        case .failed(let reason):
            pending = nil
            exchange.promise.fail(HeadlessLoginFailed(reason: reason))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.promise.fail(ChannelError.ioOnClosedChannel)
        pending = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pending?.promise.fail(error)
        pending = nil
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }
}
