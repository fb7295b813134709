import TestSupport
import Foundation
import NIOCore
import NIOSSL
import PostgresWire
import Testing

/// `client_tls`: the proxy answers SSLRequest with S, speaks TLS to the client (also direct
/// TLS with ALPN `postgresql`), and refuses plaintext bytes smuggled after the SSLRequest.
@Suite(.needsTestEnvironment, .serialized) struct PostgresClientTLSTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func start() async throws -> ProxyHarness {
        // The test server's certificate (SAN 127.0.0.1, localhost) serves the proxy too.
        try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: """
            client_tls:
              cert_file: \(env.dir)/ca/server.pem
              key_file: \(env.dir)/ca/server.key
            """)
    }

    @Test func psqlVerifiesTheProxyCertificate() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        let result = try runProcess("/usr/bin/psql", [
            "host=localhost port=\(proxy.port) dbname=appdb user=iam_user sslmode=verify-full sslrootcert=\(env.ca_file)",
            "-XAtc", "SELECT current_user",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "iam_user")
    }

    @Test func plaintextPipelinedAfterSSLRequestIsRefused() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        var ssl = ByteBuffer()
        ssl.writeMultipleIntegers(Int32(8), Int32(80_877_103))
        var both = ssl
        var startup = RawPostgresClient.startup(user: env.postgres.iam_user)
        both.writeBuffer(&startup)
        let answer = try await RawPostgresClient.exchange(port: proxy.port, send: [both])
        #expect(answer.closed)
        #expect(answer.bytes.readableBytes == 0, "no S may be sent when plaintext follows the SSLRequest")
    }

    @Test func directTLSClientWithALPN() async throws {
        let proxy = try await start()
        defer { proxy.stop() }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(env.ca_file)
        configuration.applicationProtocols = ["postgresql"]
        let context = try NIOSSLContext(configuration: configuration)
        let answer = try await RawPostgresClient.exchange(
            port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)], tls: context, serverName: "localhost",
            until: RawPostgresClient.readyForQuery)
        #expect(answer.messageTypes.first == "R")
        #expect(answer.messageTypes.last == "Z", "\(answer.messageTypes)")
    }

    @Test func directTLSWithoutALPNIsRefused() async throws {
        // Regression: a direct TLS client without ALPN was served; PostgreSQL 17 refuses it
        // (a cross-protocol defence), and so must the proxy.
        let proxy = try await start()
        defer { proxy.stop() }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(env.ca_file)
        let context = try NIOSSLContext(configuration: configuration)
        let answer = try await RawPostgresClient.exchange(
            port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)], tls: context, serverName: "localhost",
            until: RawPostgresClient.readyForQuery, timeout: .seconds(10))
        #expect(answer.closed)
        #expect(answer.error?.sqlState == "08P01")
        #expect(answer.error?.message.contains("ALPN") == true, "\(answer.messageTypes)")
    }
}
