import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A TCP hop between the proxy and the real database server that misbehaves on request: it
/// relays byte for byte, or resets a connection as soon as it is accepted, or once the client
/// has sent a number of bytes (8 is the SSLRequest, so 9 resets in the TLS handshake), or
/// answers the SSLRequest itself and presents a certificate of the test's choosing. `resetAll()`
/// resets every relayed connection at once (a database crash in the middle of a query).
final class FaultyUpstream: Sendable {
    enum Mode: Sendable {
        case relay
        case resetAtConnect
        case resetAfterClientBytes(Int)
        /// Answers `S` to the SSLRequest and does TLS with this certificate (PostgreSQL only).
        case presentCertificate(certificateFile: String, keyFile: String)
    }

    private let channel: any Channel
    private let state: NIOLockedValueBox<(mode: Mode, open: [any Channel])>
    let port: Int

    init(upstreamPort: Int, mode: Mode = .relay) async throws {
        let state = NIOLockedValueBox<(mode: Mode, open: [any Channel])>((mode, []))
        self.state = state
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let mode = state.withLockedValue { state in
                    state.open.append(channel)
                    return state.mode
                }
                return channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, mode: mode, upstreamPort: upstreamPort)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    /// What connections accepted from now on do.
    func set(_ mode: Mode) { state.withLockedValue { $0.mode = mode } }

    /// Resets every connection open now.
    func resetAll() {
        let open = state.withLockedValue { state in
            defer { state.open = [] }
            return state.open
        }
        open.forEach(Self.reset)
    }

    func shutdown() async {
        resetAll()
        try? await channel.close()
    }

    static func reset(_ channel: any Channel) {
        // SO_LINGER 0: close sends RST instead of FIN.
        guard let provider = channel as? any SocketOptionProvider else {
            channel.close(promise: nil)
            return
        }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
    }

    private static func configure(_ channel: any Channel, mode: Mode, upstreamPort: Int) throws {
        switch mode {
        case .resetAtConnect:
            channel.eventLoop.execute { reset(channel) }
        case .relay:
            try channel.pipeline.syncOperations.addHandler(RelayHandler(upstreamPort: upstreamPort, resetAfter: nil))
        case .resetAfterClientBytes(let count):
            try channel.pipeline.syncOperations.addHandler(RelayHandler(upstreamPort: upstreamPort, resetAfter: count))
        case .presentCertificate(let certificateFile, let keyFile):
            try channel.pipeline.syncOperations.addHandler(SSLAnswerer(certificateFile: certificateFile, keyFile: keyFile))
        }
    }

    /// Answers the SSLRequest with `S`, then puts a TLS server handler in front.
    private final class SSLAnswerer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let certificateFile: String
        let keyFile: String

        init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "S")), promise: nil)
            do {
                let configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: NIOSSLContext(configuration: configuration)), position: .first)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            } catch {
                context.close(promise: nil)
            }
        }
    }

    /// Relays to the real server; with `resetAfter`, resets both sides once the client has sent that many bytes.
    private final class RelayHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let upstreamPort: Int
        let resetAfter: Int?
        var sent = 0
        var upstream: (any Channel)?
        var pending: [ByteBuffer] = []

        init(upstreamPort: Int, resetAfter: Int?) {
            self.upstreamPort = upstreamPort
            self.resetAfter = resetAfter
        }

        func channelActive(context: ChannelHandlerContext) {
            let client = context.channel
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            ClientBootstrap(group: context.eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(BackRelay(client: client)) }
                }
                .connect(host: "127.0.0.1", port: upstreamPort)
                .whenComplete { result in
                    switch result {
                    case .success(let channel):
                        handler.value.upstream = channel
                        handler.value.pending.forEach { channel.write($0, promise: nil) }
                        handler.value.pending = []
                        channel.flush()
                        client.closeFuture.whenComplete { _ in channel.close(promise: nil) }
                    case .failure:
                        client.close(promise: nil)
                    }
                }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            sent += bytes.readableBytes
            if let resetAfter, sent >= resetAfter {
                if let upstream { FaultyUpstream.reset(upstream) }
                FaultyUpstream.reset(context.channel)
                return
            }
            if let upstream { upstream.writeAndFlush(bytes, promise: nil) } else { pending.append(bytes) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            upstream?.close(promise: nil)
            upstream = nil
        }
    }

    private final class BackRelay: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let client: any Channel
        init(client: any Channel) { self.client = client }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            client.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            FaultyUpstream.reset(client)
        }
    }
}
