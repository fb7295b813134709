#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Tells systemd how the service is doing (`Type=notify`): `READY=1` once every listener is
/// bound, `RELOADING=1` … `READY=1` around a SIGHUP reload, `STOPPING=1` when the drain starts.
/// One datagram to the socket in `NOTIFY_SOCKET` per change (a path, or `@name` in the abstract
/// namespace), as `sd_notify(3)` sends it; nothing when the variable is unset.
public struct ServiceManagerNotifier: Sendable {
    public let socketPath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }

    /// `MONOTONIC_USEC` lets `Type=notify-reload` tell this reload from an older one.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
    }

    public func stopping() { send("STOPPING=1") }

    /// Sends one state message; false when there is no socket or it could not be sent (the
    /// service manager then finds out by its own timeout, so this never fails the proxy).
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let socketPath else { return false }
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        var address = sockaddr_un()
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        // The exact length: an abstract name is not NUL-terminated.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, 0, sockaddrPointer, length) }
            }
        }
        return sent == bytes.count
    }
}
