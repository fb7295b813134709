import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresWire
import TestSupport
import Testing

/// Faults outside the proxy — the upstream resetting at connect, in the TLS handshake or in the
/// middle of a query, a name that does not resolve, an expired certificate, a credentials
/// endpoint that is down, slow, answering garbage or expired credentials, STS throttling —
/// each give the client its specific error, and the proxy serves again by itself as soon as
/// the fault clears, with no restart.
@Suite(.needsTestEnvironment, .serialized) struct FaultTests: FaultChecks {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    /// A proxy whose upstream is `faulty` (tokens still signed for the real server's port).
    func proxy(through faulty: FaultyUpstream, identity: TestEnvironment.Identity? = nil, extraEnvironment: [String: String] = [:]) async throws -> ProxyHarness {
        try await ProxyHarness.start(env, identity: identity ?? env.longTerm, extraEnvironment: extraEnvironment,
                                     listenerYAML: "iam_default_port: \(env.postgres.port)", upstream: "localhost:\(faulty.port)")
    }

    @Test func upstreamResettingAtConnectOrInTLSGives08001AndRecovers() async throws {
        let faulty = try await FaultyUpstream(upstreamPort: env.postgres.port, mode: .resetAtConnect)
        let proxy = try await proxy(through: faulty)
        defer { proxy.stop() }
        let atConnect = try await loginError(proxy)
        #expect(atConnect?.sqlState == "08001", "\(String(describing: atConnect))")
        #expect(atConnect?.message.contains("localhost:\(faulty.port)") == true)

        faulty.set(.resetAfterClientBytes(9))
        let inTLS = try await loginError(proxy)
        #expect(inTLS?.sqlState == "08001", "\(String(describing: inTLS))")

        faulty.set(.relay)
        try expectServing(proxy, "after the fault cleared")
        await faulty.shutdown()
    }

    @Test func upstreamResetInTheMiddleOfAQueryEndsThatSessionOnly() async throws {
        let faulty = try await FaultyUpstream(upstreamPort: env.postgres.port)
        let proxy = try await proxy(through: faulty)
        defer { proxy.stop() }
        let sleeping = Process()
        sleeping.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        sleeping.arguments = ["host=127.0.0.1 port=\(proxy.port) dbname=appdb user=\(env.postgres.iam_user) sslmode=disable", "-XAtc", "SELECT pg_sleep(30)"]
        let errors = Pipe()
        sleeping.standardError = errors
        sleeping.standardOutput = FileHandle.nullDevice
        try sleeping.run()
        #expect(await proxy.logs.waitFor("session logged in"))
        faulty.resetAll()
        sleeping.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(sleeping.terminationStatus != 0)
        #expect(stderr.contains("server closed the connection unexpectedly") || stderr.contains("connection"), "\(stderr)")
        try expectServing(proxy, "a new session after the reset")
        await faulty.shutdown()
    }

    @Test func unresolvableHostGives08001SayingSo() async throws {
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, upstream: "db.invalid:5432")
        defer { proxy.stop() }
        let error = try await loginError(proxy)
        #expect(error?.sqlState == "08001")
        #expect(error?.message.contains("db.invalid:5432: the host name does not resolve") == true, "\(String(describing: error))")
    }

    /// A certificate for localhost signed by the test CA whose validity ended in 2020.
    func expiredCertificate() throws -> (certificate: String, key: String) {
        let folder = NSTemporaryDirectory() + "expired-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder + "/new", withIntermediateDirectories: true)
        try "".write(toFile: folder + "/index.txt", atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: folder + "/serial", atomically: true, encoding: .utf8)
        try """
            [ca]
            default_ca = test
            [test]
            dir = \(folder)
            database = \(folder)/index.txt
            serial = \(folder)/serial
            new_certs_dir = \(folder)/new
            default_md = sha256
            policy = anything
            copy_extensions = copy
            [anything]
            commonName = supplied
            [san]
            subjectAltName = DNS:localhost
            """.write(toFile: folder + "/ca.cnf", atomically: true, encoding: .utf8)
        let request = try runProcess("/usr/bin/openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                                          "-keyout", folder + "/key.pem", "-out", folder + "/request.pem"])
        #expect(request.status == 0, "\(request.stderr)")
        let signed = try runProcess("/usr/bin/openssl", ["ca", "-batch", "-config", folder + "/ca.cnf", "-extensions", "san",
                                                         "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
                                                         "-cert", env.ca_file, "-keyfile", env.dir + "/ca/ca.key",
                                                         "-in", folder + "/request.pem", "-out", folder + "/certificate.pem"])
        #expect(signed.status == 0, "\(signed.stderr)")
        return (folder + "/certificate.pem", folder + "/key.pem")
    }

    @Test func expiredUpstreamCertificateGives08001SayingExpiredAndRecovers() async throws {
        let (certificate, key) = try expiredCertificate()
        let faulty = try await FaultyUpstream(upstreamPort: env.postgres.port, mode: .presentCertificate(certificateFile: certificate, keyFile: key))
        let proxy = try await proxy(through: faulty)
        defer { proxy.stop() }
        let error = try await loginError(proxy)
        #expect(error?.sqlState == "08001")
        #expect(error?.message.contains("expired") == true, "\(String(describing: error))")
        faulty.set(.relay)
        try expectServing(proxy, "after the certificate was renewed")
        await faulty.shutdown()
    }
}

/// The proxy's own clock, skewed with libfaketime (changed at run time through its timestamp
/// file): a token signed 30 minutes in the past is refused by the server; once the clock is
/// right again the cached, refused token is dropped and the next login signs a fresh one.
@Suite(.needsTestEnvironment, .serialized) struct ClockSkewTests {
    static let libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: libfaketime), "libfaketime is not installed"))
    func skewedClockGetsTheServersRefusalAndRecoversWhenTheClockIsRight() async throws {
        let skew = NSTemporaryDirectory() + "faketime-" + UUID().uuidString
        try "-30m\n".write(toFile: skew, atomically: true, encoding: .utf8)
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, extraEnvironment: [
            "LD_PRELOAD": Self.libfaketime, "FAKETIME_TIMESTAMP_FILE": skew, "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        ])
        defer { proxy.stop() }
        let verdicts = env.verdictLogSize
        let refused = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("PAM authentication failed"), "\(refused.stderr)\n\(proxy.logs.text)")
        #expect(await proxy.logs.waitFor("server refused login: FATAL 28000"))
        // The warning says what to look at, clock included.
        #expect(await proxy.logs.waitFor("likely_cause=the server did not accept the IAM token"), "\(proxy.logs.text)")
        #expect(proxy.logs.text.contains("this host's clock must be right"))
        #expect(env.verdicts(after: verdicts).contains { $0.contains("expired") }, "the server must have refused the old signature")

        try "+0\n".write(toFile: skew, atomically: true, encoding: .utf8)
        let served = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(served.status == 0 && served.stdout == "1\n", "\(served.stderr)\n\(proxy.logs.text.suffix(1_500))")
    }
}

/// The credentials side: a container credentials endpoint and an STS endpoint on loopback that
/// the test turns bad and good again.
@Suite(.needsTestEnvironment, .serialized) struct CredentialFaultTests: FaultChecks {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    enum Answer: Sendable { case good, garbage, expired, hang, serverError }

    func credentialsJSON(expiresIn seconds: TimeInterval) -> String {
        let identity = env.temporary
        let expiration = Date().addingTimeInterval(seconds).formatted(.iso8601)
        return #"{"AccessKeyId":"\#(identity.access_key_id)","SecretAccessKey":"\#(identity.secret_access_key)","Token":"\#(identity.session_token ?? "")","Expiration":"\#(expiration)"}"#
    }

    @Test func containerEndpointDownSlowGarbageOrExpiredGives08001AndRecovers() async throws {
        let answer = NIOLockedValueBox(Answer.good)
        let json = credentialsJSON(expiresIn: 3_600)
        let expired = credentialsJSON(expiresIn: -60)
        let endpoint = try await LocalHTTPServer { _ in
            switch answer.withLockedValue({ $0 }) {
            case .good: .answer(status: 200, body: json)
            case .garbage: .answer(status: 200, body: "<html>captive portal</html>")
            case .expired: .answer(status: 200, body: expired)
            case .hang: .hang
            case .serverError: .answer(status: 500, body: "busy")
            }
        }
        defer { Task { await endpoint.shutdown() } }
        let downPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: nil, extraEnvironment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(downPort)/credentials",
        ])
        defer { proxy.stop() }
        // Down: nothing listens where the endpoint should be.
        let down = try await loginError(proxy)
        #expect(down?.sqlState == "08001" && down?.message.contains("container") == true, "\(String(describing: down))")

        // The proxy fetches credentials once at start (to log who signs): that fetch must not
        // cache good credentials the faults below would then never reach.
        answer.withLockedValue { $0 = .garbage }
        let working = try await ProxyHarness.start(env, identity: nil, extraEnvironment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(endpoint.url)/credentials",
        ])
        defer { working.stop() }
        for (fault, words) in [(Answer.garbage, "not a credentials JSON document"), (.expired, "already expired"), (.hang, "container"), (.serverError, "500")] {
            answer.withLockedValue { $0 = fault }
            let error = try await loginError(working)
            #expect(error?.sqlState == "08001", "\(fault): \(String(describing: error))")
            #expect(error?.message.contains(words) == true, "\(fault): \(String(describing: error))")
        }
        answer.withLockedValue { $0 = .good }
        try expectServing(working, "after the endpoint recovered")
    }

    @Test func stsThrottlingGives08001NamingItAndRecovers() async throws {
        let throttled = NIOLockedValueBox(true)
        let identity = env.temporary
        let response = """
            <AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>
            <AccessKeyId>\(identity.access_key_id)</AccessKeyId><SecretAccessKey>\(identity.secret_access_key)</SecretAccessKey>
            <SessionToken>\(identity.session_token ?? "")</SessionToken><Expiration>\(Date().addingTimeInterval(3_600).formatted(.iso8601))</Expiration>
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>
            """
        let sts = try await LocalHTTPServer { _ in
            throttled.withLockedValue { $0 }
                ? .answer(status: 400, body: "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>")
                : .answer(status: 200, body: response)
        }
        defer { Task { await sts.shutdown() } }
        let tokenFile = NSTemporaryDirectory() + "web-identity-" + UUID().uuidString
        try "eyJ.test.token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let adminPort = try await ProxyHarness.freePort()
        let proxy = try await ProxyHarness.start(env, identity: nil, extraEnvironment: [
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/app", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
            "AWS_ENDPOINT_URL_STS": sts.url,
        ], topYAML: "http: {listen: 127.0.0.1:\(adminPort)}")
        defer { proxy.stop() }
        let error = try await loginError(proxy)
        #expect(error?.sqlState == "08001")
        #expect(error?.message.contains("Throttling") == true, "\(String(describing: error))")
        throttled.withLockedValue { $0 = false }
        try expectServing(proxy, "after STS stopped throttling")
        // An alert can watch the role's credentials run out.
        let metrics = try runProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(adminPort)/metrics"]).stdout
        let expiry = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("iam_db_proxy_credentials_expiry_timestamp_seconds ") }
            .flatMap { Double($0.split(separator: " ")[1]) }, "\(metrics)")
        #expect(abs(expiry - Date().addingTimeInterval(3_600).timeIntervalSince1970) < 120, "\(expiry)")
    }
}

/// What every fault test asks of a proxy: the error a login gets, and that it serves again.
protocol FaultChecks {
    var env: TestEnvironment { get }
}

extension FaultChecks {
    func loginError(_ proxy: ProxyHarness) async throws -> ErrorResponse? {
        try await RawPostgresClient.exchange(port: proxy.port, send: [RawPostgresClient.startup(user: env.postgres.iam_user)],
                                             until: RawPostgresClient.readyForQuery, timeout: .seconds(20)).error
    }

    func expectServing(_ proxy: ProxyHarness, _ context: String) throws {
        let psql = try proxy.psql(env, ["-c", "SELECT 1"])
        #expect(psql.status == 0 && psql.stdout == "1\n", "\(context): \(psql.stderr)\n\(proxy.logs.text.suffix(1_500))")
    }
}
