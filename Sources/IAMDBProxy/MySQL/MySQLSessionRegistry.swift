import NIOCore
import Synchronization

/// The connection ids the proxy puts in its greetings, and the upstream session behind each,
/// so `KILL <id>` from another connection reaches the server that runs the query — also
/// after a retry, and when the endpoint's name now points elsewhere (the address is kept).
final class MySQLSessionRegistry: Sendable {
    /// Proxy ids start here, far above the thread ids servers hand out, so a `KILL` of a real
    /// server thread id (from SHOW PROCESSLIST) is not mistaken for one of ours.
    static let firstConnectionID: UInt32 = 2_000_000_001
    static let proxyIDs = UInt64(firstConnectionID)...UInt64(UInt32.max)

    struct Session: Sendable {
        let runtime: ListenerRuntime
        let address: SocketAddress
        /// The host the session dialed: the KILL's token and TLS name.
        let host: HostAndPort
        let upstreamConnectionID: UInt32
    }

    private struct State {
        /// Ids given to connections that are still open, logged in or not.
        var reserved: Set<UInt32> = []
        var sessions: [UInt32: Session] = [:]
    }

    private let state = Mutex(State())

    /// A random id no open connection has: ids that count up would let any client guess the
    /// ids of other sessions and KILL them.
    func makeConnectionID() -> UInt32 {
        state.withLock { state in
            while true {
                let id = UInt32.random(in: Self.firstConnectionID...UInt32.max)
                if state.reserved.insert(id).inserted { return id }
            }
        }
    }

    func register(_ connectionID: UInt32, _ session: Session) { state.withLock { $0.sessions[connectionID] = session } }

    /// The connection closed: its id may be handed out again.
    func remove(_ connectionID: UInt32) {
        state.withLock { state in
            state.sessions.removeValue(forKey: connectionID)
            state.reserved.remove(connectionID)
        }
    }

    /// The session behind a proxy id, if it belongs to `listener`: a client may KILL only
    /// sessions of its own listener (another listener has its own users and upstream).
    func session(for connectionID: UInt64, listener: String) -> Session? {
        guard Self.proxyIDs.contains(connectionID) else { return nil }
        return state.withLock { $0.sessions[UInt32(connectionID)] }.flatMap { $0.runtime.configuration.name == listener ? $0 : nil }
    }
}
