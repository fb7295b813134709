import NIOCore
import PostgresWire

/// Follows a relayed PostgreSQL session of a `session_reuse` listener from both sides, so that
/// when its client sends Terminate the proxy knows whether the backend may serve another
/// client: the client's messages and the server's ReadyForQuery feed a `SessionReuseTracker`,
/// the server's ParameterStatus messages keep the greeting for the next client current. One
/// per session, on its event loop; the two observers share it.
final class PostgresReuseFollower {
    private var tracker = SessionReuseTracker()
    private(set) var session: PostgresLoggedInSession
    /// Set when the server sent something the follower could not read: never reuse.
    private var unreadable: String?
    /// Told how the client's turn ended when it was not a clean one.
    private let turn: ReuseTurn
    /// Asked at a clean Terminate; true when it took the session (Terminate is then not sent on).
    private let cleanEnd: (PostgresReuseFollower) -> Bool

    init(session: PostgresLoggedInSession, turn: ReuseTurn, cleanEnd: @escaping (PostgresReuseFollower) -> Bool) {
        self.session = session
        self.turn = turn
        self.cleanEnd = cleanEnd
    }

    /// The client's connection closed: a turn that did not end at a clean Terminate is counted.
    func clientLeft() { turn.settle(unsafeEnd: nil) }

    var verdict: SessionReuseTracker.Verdict {
        if let unreadable { return .notReusable(unreadable) }
        return tracker.verdict
    }

    /// The observers to put before each side's glue.
    func makeHandlers() -> (client: MessageObserverHandler<ClientSide>, upstream: MessageObserverHandler<ServerSide>) {
        (MessageObserverHandler(observer: ClientSide(follower: self)), MessageObserverHandler(observer: ServerSide(follower: self)))
    }

    fileprivate func clientSent(_ type: UInt8) -> RelayVerdict {
        guard type == UInt8(ascii: "X") else {
            tracker.clientMessage(type: type)
            return .forward
        }
        if case .notReusable(let why) = verdict {
            turn.settle(unsafeEnd: why)
            return .forward
        }
        return cleanEnd(self) ? .drop : .forward
    }

    fileprivate func serverSent(_ type: UInt8, body: ByteBuffer?) {
        switch type {
        case BackendMessage.readyForQuery:
            tracker.serverMessage(type: type, readyStatus: body?.getInteger(at: body?.readerIndex ?? 0, as: UInt8.self))
        case BackendMessage.parameterStatus:
            // Longer than the relay holds (4 KiB): the greeting cannot carry it, so no next client.
            guard let body, session.report(parameterStatus: body) else {
                unreadable = "the server sent a ParameterStatus the proxy could not read"
                return
            }
        default:
            tracker.serverMessage(type: type)
        }
    }

    final class ClientSide: RelayMessageObserver {
        typealias Framing = PostgresMessageFraming
        private let follower: PostgresReuseFollower
        init(follower: PostgresReuseFollower) { self.follower = follower }
        func wantsBody(_ header: Framing.Header) -> Bool { false }
        func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict { follower.clientSent(header.type) }
    }

    final class ServerSide: RelayMessageObserver {
        typealias Framing = PostgresMessageFraming
        private let follower: PostgresReuseFollower
        init(follower: PostgresReuseFollower) { self.follower = follower }
        func wantsBody(_ header: Framing.Header) -> Bool {
            header.type == BackendMessage.readyForQuery || header.type == BackendMessage.parameterStatus
        }
        func observe(_ header: Framing.Header, body: ByteBuffer?) -> RelayVerdict {
            follower.serverSent(header.type, body: body)
            return .forward
        }
    }
}
