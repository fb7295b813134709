import Foundation
import NIOCore
import NIOPosix
import Testing

/// Out of file descriptors, the proxy says so clearly and keeps running; once connections
/// close it accepts again.
@Suite(.needsTestEnvironment, .serialized) struct DescriptorLimitTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    @Test func runningOutOfDescriptorsIsLoggedAndSurvived() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: "handshake_timeout: 60", openFileLimit: 64)
        defer { proxy.stop() }
        #expect(proxy.logs.text.contains("open_file_limit=64"))
        // Silent clients hold one descriptor each in the proxy; 80 are more than it has.
        var silent: [any Channel] = []
        for _ in 0..<80 {
            silent.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: proxy.port).get())
        }
        #expect(await proxy.logs.waitFor("cannot accept connections: out of file descriptors"), "\(proxy.logs.text)")
        for channel in silent { try? await channel.close() }
        // Still alive, and serving again once descriptors are free (the kernel's backlog drains).
        var served = false
        for _ in 0..<50 where !served {
            served = try proxy.psql(env, ["-c", "SELECT 1"]).status == 0
            if !served { _ = await proxy.logs.waitFor("session logged in", timeout: 0.2) }
        }
        #expect(served, "\(proxy.logs.text.suffix(2000))")
    }
}
