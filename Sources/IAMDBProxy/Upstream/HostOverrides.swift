import NIOCore
import Synchronization

/// The top-level `resolve:` map, host name → address, as curl's `--resolve` does: an upstream
/// whose host is listed is dialed at that address instead of its DNS answer, while TLS still
/// checks the certificate against the host name (or `tls.server_name`) and tokens are still
/// signed for it. For split-horizon DNS, and for tests that give each "instance" a loopback
/// address. One shared, live map: a reload (SIGHUP) changes it for every new connection.
final class HostOverrides: Sendable {
    private let addresses: Mutex<[String: String]>

    init(_ addresses: [String: String] = [:]) { self.addresses = Mutex(Self.lowercased(addresses)) }

    /// Puts `addresses` in force; false when they are the ones already in force.
    @discardableResult
    func replace(with addresses: [String: String]) -> Bool {
        let new = Self.lowercased(addresses)
        return self.addresses.withLock { current in
            defer { current = new }
            return current != new
        }
    }

    /// Where to dial `target`, when the map names its host.
    func address(for target: HostAndPort) -> SocketAddress? {
        guard let address = addresses.withLock({ $0[target.host.lowercased()] }) else { return nil }
        return try? SocketAddress(ipAddress: address, port: target.port)
    }

    /// Every address of `host` as the proxy would dial it: the map's, else the system's.
    func lookup(host: String, port: Int) -> [SocketAddress] {
        if let address = address(for: HostAndPort(host: host, port: port)) { return [address] }
        return SystemAddressLookup.all(host: host, port: port)
    }

    private static func lowercased(_ addresses: [String: String]) -> [String: String] {
        Dictionary(addresses.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}
