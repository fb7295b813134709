import MySQLWire
import NIOCore

/// Follows a relayed MySQL session of a `session_reuse` listener from both sides, so that when
/// its client sends COM_QUIT the proxy knows whether the server connection may serve another
/// client: `MySQLCommandInspector` reports each command the client sends, the server-side
/// observer every packet of the answers (`MySQLSessionReuseTracker`). One per session, on its
/// event loop.
final class MySQLReuseFollower {
    private var tracker = MySQLSessionReuseTracker()
    let session: MySQLLoggedInSession
    /// Told how the client's turn ended when it was not a clean one.
    private let turn: ReuseTurn
    /// Asked at a clean COM_QUIT; true when it took the session (COM_QUIT is then not sent on).
    private let cleanEnd: (MySQLReuseFollower) -> Bool

    init(session: MySQLLoggedInSession, turn: ReuseTurn, cleanEnd: @escaping (MySQLReuseFollower) -> Bool) {
        self.session = session
        self.turn = turn
        self.cleanEnd = cleanEnd
    }

    /// The client's connection closed: a turn that did not end at a clean COM_QUIT is counted.
    func clientLeft() { turn.settle(unsafeEnd: nil) }

    func clientCommand(_ command: UInt8) { tracker.clientCommand(command) }

    /// The client sent COM_QUIT: true when the session was taken for the next client.
    func quit() -> Bool {
        if case .notReusable(let why) = tracker.verdict {
            turn.settle(unsafeEnd: why)
            return false
        }
        return cleanEnd(self)
    }

    func makeServerHandler() -> MessageObserverHandler<ServerSide> { MessageObserverHandler(observer: ServerSide(follower: self)) }

    final class ServerSide: RelayMessageObserver {
        typealias Framing = MySQLPacketFraming
        private let follower: MySQLReuseFollower
        init(follower: MySQLReuseFollower) { self.follower = follower }
        func wantsBody(_ header: Framing.Header) -> Bool { follower.tracker.wantsBody(length: header.payloadLength) }
        func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict {
            follower.tracker.serverPacket(length: header.payloadLength, body: body)
            return .forward
        }
    }
}

/// MySQL's reset of a parked session: COM_RESET_CONNECTION, then COM_INIT_DB with the key's database.
struct MySQLSessionReset: SessionReset {
    private var exchange: MySQLSessionResetExchange
    private let session: MySQLLoggedInSession

    init(database: String, session: MySQLLoggedInSession) {
        exchange = MySQLSessionResetExchange(database: database)
        self.session = session
    }

    var request: ByteBuffer { exchange.request }
    var parkedState: any Sendable { session }

    mutating func serverBytes(_ buffer: inout ByteBuffer) -> SessionResetStep {
        switch exchange.serverBytes(&buffer) {
        case .pending: .pending
        case .send(let bytes): .send(bytes)
        case .reset: .reset
        case .failed(let reason): .failed(reason)
        }
    }
}
