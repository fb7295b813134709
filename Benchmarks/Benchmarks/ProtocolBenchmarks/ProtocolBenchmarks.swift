import AWSAuth
import Benchmark
import Foundation
import MySQLWire
import NIOCore
import PostgresWire

/// Long-term credentials that never need fetching: the benchmarks measure signing and the
/// cache, not a provider.
struct FixedCredentials: CredentialProvider {
    let name = "fixed"
    func credentials() async throws -> AWSCredentials {
        AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput], maxDuration: .seconds(3))

    let request = RDSTokenRequest(host: "mydb.cluster-abc123.us-east-1.rds.amazonaws.com", port: 5432, user: "app_user", region: "us-east-1")
    let temporary = AWSCredentials(
        accessKeyID: "ASIAEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        sessionToken: String(repeating: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH", count: 16))

    Benchmark("Sign RDS token (session token)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RDSAuthToken.make(for: request, credentials: temporary, date: Date()))
        }
    }

    let cache = TokenCache(credentials: CredentialCache(provider: FixedCredentials()))
    Benchmark("Cached token lookup", configuration: .init(scalingFactor: .kilo)) { benchmark in
        _ = try await cache.token(for: request)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await cache.token(for: request))
        }
    }

    let startup = FrontendMessages.startup(
        version: .init(major: 3, minor: 0),
        parameters: [("user", "app_user"), ("database", "appdb"), ("application_name", "psql"), ("client_encoding", "UTF8")])
    Benchmark("Parse PostgreSQL StartupMessage", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            var buffer = startup
            blackHole(try StartupRequest.decode(from: &buffer))
        }
    }

    var packet = ByteBuffer()
    PacketFrame(sequenceID: 1, payload: ByteBuffer(bytes: Array(repeating: 0x41, count: 200))).encode(into: &packet)
    Benchmark("Frame MySQL packet", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            var buffer = packet
            blackHole(PacketFrame.decode(from: &buffer))
        }
    }

    // What libmariadb sends: protocol 4.1 flags, a scrambled password, database, plugin, attributes.
    let response = HandshakeResponse(
        capabilities: [.longFlag, .connectWithDB, .localFiles, .protocol41, .interactive, .transactions, .secureConnection,
                       .multiStatements, .multiResults, .psMultiResults, .pluginAuth, .connectAttributes, .pluginAuthLengthEncodedData],
        characterSet: 45, user: "app_user", authResponse: Array(repeating: 0x5A, count: 20), database: "appdb",
        authPluginName: "mysql_native_password", attributes: ByteBuffer(bytes: Array("\u{04}_pid\u{04}4242\u{0C}_client_name\u{0A}libmariadb".utf8)))
        .encode()
    Benchmark("Parse MySQL HandshakeResponse41", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try HandshakeResponse(payload: response))
        }
    }

    var command = ByteBuffer()
    for _ in 0..<16 {
        PacketFrame(sequenceID: 0, payload: ByteBuffer(bytes: [0x03] + Array("SELECT c FROM sbtest1 WHERE id=4242".utf8))).encode(into: &command)
    }
    Benchmark("Frame 16 MySQL commands (relay inspector)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var framer = CommandFramer(isProxyConnectionID: { $0 >= 2_000_000_001 })
        for _ in benchmark.scaledIterations {
            blackHole(framer.feed(command))
        }
    }
}
