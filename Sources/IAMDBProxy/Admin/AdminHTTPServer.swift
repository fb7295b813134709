import NIOCore
import NIOHTTP1
import NIOPosix

/// The small HTTP server behind `http.listen`: health probes, metrics, quitquitquit. Each
/// request gets one response and the connection is closed (probes and scrapers reconnect);
/// a connection that sends no whole request within `idleTimeout` is closed too.
enum AdminHTTPServer {
    static let idleTimeout: TimeAmount = .seconds(10)

    struct Response: Sendable {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "text/plain; charset=utf-8"
        /// Done once the response has left (or could not): a shutdown must not outrun its own answer.
        var afterSending: (@Sendable () -> Void)?
    }

    typealias Responder = @Sendable (HTTPMethod, String) async -> Response

    static func bind(_ address: HostAndPort, group: any EventLoopGroup, guard requestGuard: AdminRequestGuard,
                     responder: @escaping Responder) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(IdleStateHandler(readTimeout: idleTimeout), IdleSessionCloser())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(guard: requestGuard, responder: responder))
                }
            }
            .bind(host: address.host, port: address.port).get()
    }
}

final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let requestGuard: AdminRequestGuard
    private let responder: AdminHTTPServer.Responder
    private var request: HTTPRequestHead?

    init(guard requestGuard: AdminRequestGuard, responder: @escaping AdminHTTPServer.Responder) {
        self.requestGuard = requestGuard
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let request else { return }
            self.request = nil
            let responder = self.responder
            let promise = context.eventLoop.makePromise(of: AdminHTTPServer.Response.self)
            let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let refusal = requestGuard.refusal(for: .init(method: request.method, path: path, headers: request.headers, peer: context.remoteAddress))
            promise.completeWithTask {
                if let refusal { return refusal }
                return await responder(request.method, path)
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in bound.value.0.respond(response, context: bound.value.1) }
        }
    }

    private func respond(_ response: AdminHTTPServer.Response, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: response.body)))), promise: nil)
        let channel = context.channel
        let afterSending = response.afterSending
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
            afterSending?()
        }
    }
}
