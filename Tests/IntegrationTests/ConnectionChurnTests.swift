import Foundation
import MySQLWire
import NIOCore
import PostgresWire
import Testing

/// Whatever kind of connection comes and goes — a probe that connects and leaves, a refused
/// login, a malformed packet, a whole session — the proxy gives back its memory and
/// descriptors. After a warm-up round (caches, arenas, thread pools), consecutive rounds of
/// churn must not grow the heap in use (malloc's own count, which freed-but-kept pages do not
/// blur), the resident size, or the descriptor count.
@Suite(.needsTestEnvironment, .serialized) struct ConnectionChurnTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    struct Reading: CustomStringConvertible {
        var heap: Double
        var resident: Double
        var descriptors: Double
        var description: String { "heap \(Int(heap)) B, rss \(Int(resident)) B, fds \(Int(descriptors))" }
    }

    /// Waits until no session is open (the proxy has run every close), then reads /metrics.
    func settledReading(_ admin: AdminHTTPTests.Admin, listener: String) async throws -> Reading {
        let deadline = ContinuousClock.now + .seconds(30)
        while try admin.metric(#"iam_db_proxy_connections_active{listener="\#(listener)"}"#) != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let heap = try #require(try admin.metric("iam_db_proxy_heap_in_use_bytes"))
        let resident = try #require(try admin.metric("process_resident_memory_bytes"))
        let descriptors = try #require(try admin.metric("process_open_fds"))
        return Reading(heap: heap, resident: resident, descriptors: descriptors)
    }

    /// One round: `kinds` are (count, bytes to send, how the client ends).
    func churn(port: Int, _ kinds: [(Int, ByteBuffer?, ConnectionChurn.Ending)]) async -> ConnectionChurn.Outcome {
        var total = ConnectionChurn.Outcome()
        for (count, bytes, ending) in kinds {
            let outcome = await ConnectionChurn.run(port: port, count: count, send: bytes, ending: ending)
            total.served += outcome.served
            total.failed += outcome.failed
        }
        return total
    }

    /// Regression: each accepted connection left ~1.6 KiB behind and each refused login ~3.5 KiB
    /// (the session handlers kept their channel context, and with it themselves, alive).
    func expectNoGrowth(port: Int, admin: AdminHTTPTests.Admin, listener: String, warmUp: [(Int, ByteBuffer?, ConnectionChurn.Ending)],
                        round: [(Int, ByteBuffer?, ConnectionChurn.Ending)], rounds: Int) async throws {
        let warm = await churn(port: port, warmUp)
        #expect(warm.failed == 0)
        var previous = try await settledReading(admin, listener: listener)
        let baselineDescriptors = previous.descriptors
        let perRound = round.reduce(0) { $0 + $1.0 }
        for index in 1...rounds {
            let outcome = await churn(port: port, round)
            #expect(outcome.failed == 0, "round \(index): \(outcome.failed) of \(perRound) connections failed")
            let reading = try await settledReading(admin, listener: listener)
            print("churn \(listener) round \(index) of \(perRound) connections: \(previous) -> \(reading)")
            let heapGrowth = reading.heap - previous.heap
            let residentGrowth = reading.resident - previous.resident
            // The leak this guards against was ~1,700 bytes per connection; caches that fill
            // up after the warm-up (thread-local allocator slabs, pooled buffers) add a few tens.
            #expect(heapGrowth < Double(perRound) * 128, "round \(index): heap grew \(Int(heapGrowth)) B over \(perRound) connections (\(previous) -> \(reading))")
            #expect(residentGrowth < Double(perRound) * 512, "round \(index): RSS grew \(Int(residentGrowth)) B (\(previous) -> \(reading))")
            #expect(reading.descriptors == baselineDescriptors, "round \(index): descriptors \(reading.descriptors), baseline \(baselineDescriptors)")
            previous = reading
        }
    }

    func startProxy(engine: String = "postgres", listenerYAML: String) async throws -> (ProxyHarness, AdminHTTPTests.Admin) {
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: listenerYAML,
                                                 topYAML: "http: {listen: 127.0.0.1:\(adminPort)}", engine: engine)
        return (proxy, AdminHTTPTests.Admin(port: adminPort))
    }

    @Test func postgresChurnOfTwentyThousandConnectionsLeavesNothingBehind() async throws {
        let trustUser = try #require(env.postgres.trust_user)
        let (proxy, admin) = try await startProxy(listenerYAML: "users: [\(env.postgres.iam_user), \(trustUser)]")
        defer { proxy.stop() }
        let refused = RawPostgresClient.startup(user: env.postgres.iam_other_user)
        var malformed = ByteBuffer()
        malformed.writeMultipleIntegers(Int32(12), Int32(196_608), Int32(0))
        let loggedIn = RawPostgresClient.startup(user: trustUser)
        func mix(_ scale: Int) -> [(Int, ByteBuffer?, ConnectionChurn.Ending)] {
            [(6 * scale, nil, .leaveAtOnce), (3 * scale, refused, .waitFor { _ in false }),
             (scale / 2, malformed, .waitFor { _ in false }), (scale / 2, loggedIn, .waitFor(RawPostgresClient.readyForQuery))]
        }
        try await expectNoGrowth(port: proxy.port, admin: admin, listener: "pg", warmUp: mix(500), round: mix(1_000), rounds: 2)
        let psql = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(psql.status == 0 && psql.stdout == "1\n", "the proxy stopped serving: \(psql.stderr)")
    }

    @Test func mysqlChurnLeavesNothingBehind() async throws {
        let (proxy, admin) = try await startProxy(engine: "mysql", listenerYAML: "users: [\(env.mysql.iam_user)]")
        defer { proxy.stop() }
        var refused = ByteBuffer()
        let response = HandshakeResponse(capabilities: [.clientMySQL, .protocol41, .secureConnection, .pluginAuth], characterSet: 45,
                                         user: env.mysql.iam_other_user, authResponse: [], database: nil, authPluginName: "mysql_native_password")
        PacketFrame(sequenceID: 1, payload: response.encode()).encode(into: &refused)
        func mix(_ scale: Int) -> [(Int, ByteBuffer?, ConnectionChurn.Ending)] {
            [(3 * scale, nil, .leaveAtOnce), (2 * scale, refused, .waitFor { _ in false })]
        }
        try await expectNoGrowth(port: proxy.port, admin: admin, listener: "my", warmUp: mix(500), round: mix(1_000), rounds: 2)
        let result = try proxy.mariadb(env, "SELECT 1")
        #expect(result.status == 0, "the proxy stopped serving: \(result.stderr)")
    }
}
