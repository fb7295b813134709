import NIOCore

/// A length-prefixed wire format, as far as the relay needs it: how long a message's header
/// is and how long the body behind it. Each engine describes its own (PostgreSQL: type byte and
/// length; MySQL: packet length and sequence id).
protocol MessageFraming {
    associatedtype Header: Sendable
    /// Bytes before the body.
    static var headerLength: Int { get }
    /// The header whose `headerLength` bytes start at `index`.
    static func header(in buffer: ByteBuffer, at index: Int) -> Header
    static func bodyLength(of header: Header) -> Int
}

/// What becomes of one observed message.
enum RelayVerdict: Sendable {
    case forward
    /// The whole message (header and body) leaves the stream; the bytes around it are untouched.
    case drop
}

/// Sees every message of one direction of a relayed session, at its boundary and in stream
/// order. Off unless a feature installs one: the relay then still moves buffers, not messages.
/// Why: features learn transaction state (`ReadyForQuery`), intercept `Terminate`, or inject
/// bytes between messages without parsing the stream themselves.
protocol RelayMessageObserver: AnyObject {
    associatedtype Framing: MessageFraming
    /// Hold this message until its body is complete and pass the body to `observe`.
    /// Asked once per message; bodies longer than `MessageBoundaryTracker.maximumHeldBody` are never held.
    func wantsBody(_ header: Framing.Header) -> Bool
    /// A message has started (or, when its body was wanted, is complete): forward or drop it.
    func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict
}
