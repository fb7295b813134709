import NIOCore
import PostgresWire
import Synchronization

/// Where each live PostgreSQL session is connected, by the BackendKeyData its client saw (the
/// proxy's own, never the backend's), with the backend's key to quote. A CancelRequest goes to
/// the remembered *address*: a cluster DNS name may resolve to another instance by the time the
/// client cancels.
final class CancelRegistry: Sendable {
    struct Target: Sendable {
        let address: SocketAddress
        let tls: UpstreamTLSContext
        /// The host the session dialed: its name is what TLS checks.
        let host: HostAndPort
        let listener: String
        /// What the server gave: the key the forwarded CancelRequest quotes.
        let serverKey: BackendKey
    }

    private let targets = Mutex<[BackendKey: Target]>([:])

    func register(_ key: BackendKey, _ target: Target) {
        targets.withLock { $0[key] = target }
    }

    func remove(_ key: BackendKey) {
        targets.withLock { _ = $0.removeValue(forKey: key) }
    }

    func target(for key: BackendKey) -> Target? {
        targets.withLock { $0[key] }
    }
}
