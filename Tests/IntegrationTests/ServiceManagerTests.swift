import Foundation
import Glibc
import TestSupport
import Testing

/// What service managers ask of the proxy: `iam-db-proxy health` for a container health check
/// (the image has no curl), and `sd_notify` readiness for a systemd `Type=notify` unit, checked
/// without systemd by listening on a datagram socket of our own as `NOTIFY_SOCKET`.
@Suite(.needsTestEnvironment, .serialized) struct ServiceManagerTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    @Test func healthAsksTheAdminServerAndExitsByItsAnswer() async throws {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, topYAML: "http: {listen: 127.0.0.1:\(adminPort)}\nmin_sigterm_delay: 5")
        defer { proxy.stop() }
        let explicit = try runProcess(ProxyHarness.executable, ["health", "--url", "http://127.0.0.1:\(adminPort)/readiness"])
        #expect(explicit.status == 0 && explicit.stdout == "200 ok\n", "\(explicit)")
        // As in a container: the address from the same variable `run` reads, a wildcard asked on loopback.
        let fromEnvironment = try runProcess(ProxyHarness.executable, ["health"], environment: ["IAM_DB_PROXY_HTTP_LISTEN": "0.0.0.0:\(adminPort)"])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
        let fromFile = try runProcess(ProxyHarness.executable, ["health", "--config", proxy.configurationFile], environment: [:])
        #expect(fromFile.status == 0, "\(fromFile)")
        proxy.sendSIGTERM()
        #expect(await proxy.logs.waitFor("shutting down"))
        let draining = try runProcess(ProxyHarness.executable, ["health", "--url", "http://127.0.0.1:\(adminPort)/readiness"])
        #expect(draining.status == 1 && draining.stdout == "503 shutting down\n", "\(draining)")
    }

    @Test func healthWithNothingListeningSaysSo() async throws {
        let port = try await ProxyHarness.freePort()
        let result = try runProcess(ProxyHarness.executable, ["health", "--url", "http://127.0.0.1:\(port)/readiness", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("not healthy: cannot reach http://127.0.0.1:\(port)/readiness:"), "\(result)")
    }

    @Test func systemdHearsReadyReloadingAndStopping() async throws {
        let socket = try NotifySocket()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: ["NOTIFY_SOCKET": socket.path])
        defer { proxy.stop() }
        let ready = try #require(socket.receive())
        #expect(ready.hasPrefix("READY=1\nSTATUS=listening on 1 listener\nMAINPID="), "\(ready)")
        proxy.sendSIGHUP()
        #expect(socket.receive()?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true)
        #expect(socket.receive()?.hasPrefix("READY=1\nSTATUS=configuration reloaded") == true)
        proxy.sendSIGTERM()
        #expect(socket.receive() == "STOPPING=1")
        #expect(proxy.waitForExit() == 0)
    }
}

/// A datagram socket bound to a fresh path, as systemd's notify socket.
final class NotifySocket {
    let path = NSTemporaryDirectory() + "iam-db-proxy-notify-\(UUID().uuidString.prefix(8))"
    private let descriptor: Int32

    init() throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw HarnessError(description: "cannot bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next message, or nil after 30 s.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    deinit {
        close(descriptor)
        unlink(path)
    }
}
