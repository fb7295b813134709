import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 server on 127.0.0.1 with a random port, answering from a closure: the fake
/// IMDS, container, STS and SSO endpoints of the provider and fault tests. It records every request.
public final class LocalHTTPServer: Sendable {
    public struct Request: Sendable {
        public var method: HTTPMethod
        public var uri: String
        public var headers: HTTPHeaders
        public var body: String
        public var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }
    }

    public enum Response: Sendable {
        case answer(status: Int, body: String)
        /// Never answers (for timeout tests).
        case hang
    }

    public typealias Handler = @Sendable (Request) -> Response

    private let channel: any Channel
    private let recorded = NIOLockedValueBox<[Request]>([])
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    public var requests: [Request] { recorded.withLockedValue { $0 } }

    public init(_ handler: @escaping Handler) async throws {
        let recorded = self.recorded
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(handler: handler, recorded: recorded))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    public func shutdown() async {
        try? await channel.close()
    }

    private final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let handler: Handler
        let recorded: NIOLockedValueBox<[Request]>
        var head: HTTPRequestHead?
        var body = ""

        init(handler: @escaping Handler, recorded: NIOLockedValueBox<[Request]>) {
            self.handler = handler
            self.recorded = recorded
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(let buffer):
                body += String(buffer: buffer)
            case .end:
                guard let head else { return }
                let request = Request(method: head.method, uri: head.uri, headers: head.headers, body: body)
                recorded.withLockedValue { $0.append(request) }
                guard case .answer(let status, let text) = handler(request) else { return }
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: String(text.utf8.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
