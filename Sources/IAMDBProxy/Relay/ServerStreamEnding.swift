import NIOCore

/// An engine's way to end a relayed session on purpose: it follows the server's messages to
/// the client and, between two of them, gives the error its clients know as "the server is
/// going away" (PostgreSQL `57P01`, MySQL 1053), so a driver reports a shutdown rather than a
/// broken connection, and a pool reconnects instead of retrying on a dead socket.
protocol ServerStreamEnding: AnyObject {
    var isAtBoundary: Bool { get }
    /// Moves over server bytes on their way to the client (see `MessageCursor.advance`).
    func advance(over bytes: ByteBuffer, stoppingAtBoundary: Bool) -> Int
    /// The bytes to send the client at a boundary.
    func notice(for reason: SessionEndReason) -> ByteBuffer
}

/// Why the proxy ends a relayed session on purpose.
enum SessionEndReason: Sendable, Equatable {
    /// The proxy is shutting down (`max_sigterm_delay` passed).
    case shutdown
    /// The session's server is no longer the cluster's writer (`instance`, now a reader or gone;
    /// `writer`, the new one).
    case failover(instance: String, writer: String)

    /// What happened, for a log line or the error of a login it cut short.
    var summary: String {
        switch self {
        case .shutdown: "the proxy is shutting down"
        case .failover(let instance, let writer): "the cluster failed over: \(instance) is no longer the writer (\(writer) is)"
        }
    }
}

/// Asks a session to end (fired into the client channel's pipeline). A relaying session sends
/// its engine's notice at the next server message boundary, then closes; one still logging in
/// closes at once.
struct SessionEndRequest: Sendable {
    var reason = SessionEndReason.shutdown

    /// How long a relaying session may wait for a boundary before it is simply closed.
    static let boundaryWait: TimeAmount = .seconds(1)

    /// Asks the session of client channel `channel` to end for `reason`, and closes it if it
    /// has not ended within twice the boundary wait. From any thread.
    static func send(to channel: any Channel, reason: SessionEndReason) {
        channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(SessionEndRequest(reason: reason)) }
        channel.eventLoop.scheduleTask(in: boundaryWait * 2) { channel.close(promise: nil) }
    }
}

/// A `ServerStreamEnding` for a length-prefixed wire format: a cursor over its messages, and
/// the engine's notice.
final class FramedServerStream<Framing: MessageFraming>: ServerStreamEnding {
    private var cursor = MessageCursor<Framing>()
    private let makeNotice: (SessionEndReason) -> ByteBuffer

    init(notice: @escaping (SessionEndReason) -> ByteBuffer) {
        makeNotice = notice
    }

    func notice(for reason: SessionEndReason) -> ByteBuffer { makeNotice(reason) }

    var isAtBoundary: Bool { cursor.isAtBoundary }

    func advance(over bytes: ByteBuffer, stoppingAtBoundary: Bool) -> Int {
        cursor.advance(over: bytes, stoppingAtBoundary: stoppingAtBoundary)
    }
}
