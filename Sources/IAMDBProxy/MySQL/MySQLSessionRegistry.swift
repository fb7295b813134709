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
        let upstreamConnectionID: UInt32
    }

    private let sessions = Mutex<[UInt32: Session]>([:])
    private let nextID = Atomic<UInt32>(0)

    func makeConnectionID() -> UInt32 {
        let span = UInt32.max - Self.firstConnectionID
        return Self.firstConnectionID + nextID.wrappingAdd(1, ordering: .relaxed).oldValue % span
    }

    func register(_ connectionID: UInt32, _ session: Session) { sessions.withLock { $0[connectionID] = session } }
    func remove(_ connectionID: UInt32) { sessions.withLock { _ = $0.removeValue(forKey: connectionID) } }

    func session(for connectionID: UInt64) -> Session? {
        guard Self.proxyIDs.contains(connectionID) else { return nil }
        return sessions.withLock { $0[UInt32(connectionID)] }
    }
}
