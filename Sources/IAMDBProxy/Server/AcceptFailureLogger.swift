import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// On a listening channel, after NIO's `AcceptBackoffHandler` (which pauses accepting for a
/// moment instead of spinning): says clearly why connections cannot be accepted. Running out
/// of descriptors is the one an operator must act on; it is logged at most once a second.
final class AcceptFailureLogger: ChannelInboundHandler {
    typealias InboundIn = any Channel

    private let logger: Logger
    private var lastLogged: NIODeadline?

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let now = NIODeadline.now()
        if let lastLogged, now - lastLogged < .seconds(1) { return }
        lastLogged = now
        if let error = error as? IOError, error.errnoCode == EMFILE || error.errnoCode == ENFILE {
            logger.error("cannot accept connections: out of file descriptors; each session needs two. Raise the open-file limit (ulimit -n, systemd LimitNOFILE=) or lower max_connections", metadata: [
                "open_file_limit": "\(OpenFileLimit.current.soft)",
            ])
        } else {
            logger.error("cannot accept a connection", metadata: ["error": "\(error)"])
        }
    }
}
