import Foundation
import Glibc
import Testing

/// `resolve:` (host → address, like curl's `--resolve`): an upstream name no DNS knows is dialed
/// at the mapped address while TLS still checks the certificate's name and the token is signed
/// for the name; a reload (SIGHUP) moves it for new connections.
@Suite(.needsTestEnvironment, .serialized) struct ResolveOverrideTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    @Test func anUnresolvableNameIsDialedAtItsMappedAddressAndAReloadMovesIt() async throws {
        let name = "db-1.internal.invalid"
        let proxy = try await ProxyHarness.start(
            env, identity: env.longTerm, listenerYAML: "iam_host: localhost", upstream: "\(name):\(env.postgres.port)", serverName: "localhost",
            topYAML: "resolve:\n  \(name): 127.0.0.1")
        defer { proxy.stop() }
        let first = try proxy.psql(env, ["-c", "SELECT inet_server_addr()"])
        #expect(first.status == 0 && first.stdout.hasPrefix("127.0.0.1"), "\(first.stderr)\n\(proxy.logs.text.suffix(1_500))")

        // Nothing listens on 127.0.0.9: after the reload, new logins go there and say so.
        let text = try String(contentsOfFile: proxy.configurationFile, encoding: .utf8)
        try text.replacingOccurrences(of: "\(name): 127.0.0.1", with: "\(name): 127.0.0.9").write(toFile: proxy.configurationFile, atomically: true, encoding: .utf8)
        proxy.sendSIGHUP()
        #expect(await proxy.logs.waitFor("resolve changed"))
        let moved = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(moved.status != 0)
        #expect(moved.stderr.contains("cannot connect to \(name):\(env.postgres.port)") && moved.stderr.contains("dialed 127.0.0.9 as resolve: says"),
                "\(moved.stderr)")
    }
}
