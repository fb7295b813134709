import Foundation
import Testing

@testable import IAMDBProxy

@Suite struct ConfigurationLoaderTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The example file, with its file paths pointed at files that exist here.
    func example() throws -> String {
        var text = try String(contentsOf: Self.repository.appendingPathComponent("config/example.yaml"), encoding: .utf8)
        for name in ["global-bundle.pem", "proxy.pem", "proxy.key"] {
            let file = NSTemporaryDirectory() + "\(UUID().uuidString)-\(name)"
            try "-----BEGIN CERTIFICATE-----\n".write(toFile: file, atomically: true, encoding: .utf8)
            text = text.replacingOccurrences(of: "/etc/iam-db-proxy/\(name)", with: file)
        }
        return text
    }

    @Test func exampleFileLoadsAsWritten() throws {
        let configuration = try ConfigurationLoader.parse(try example(), file: "example.yaml")
        #expect(configuration.aws == .init(region: "us-east-1", profile: "dev"))
        let listener = try #require(configuration.listeners.first)
        #expect(listener.name == "app" && listener.engine == .postgres)
        #expect(listener.listen == .tcp(HostAndPort(host: "127.0.0.1", port: 15432)))
        #expect(listener.upstream == HostAndPort(host: "db.cluster-abc.us-east-1.rds.amazonaws.com", port: 5432))
        #expect(listener.signingHost == "db.cluster-abc.us-east-1.rds.amazonaws.com" && listener.signingPort == 5432)
        #expect(listener.iamRegion == "us-east-1" && listener.iamExpirationSeconds == 870)
        #expect(listener.tls.mode == .verifyFull && listener.tls.serverName == "db.cluster-abc.us-east-1.rds.amazonaws.com")
        #expect(listener.users == ["app_user"])
        #expect(listener.instanceHostPattern == "?.abc.us-east-1.rds.amazonaws.com" && listener.effectiveRole == .writer)
        #expect(listener.topology.monitorUser == "app_user" && listener.topology.refreshSeconds == 30 && listener.topology.readerFallback == .writer)
    }

    @Test func defaultsForAMinimalListener() throws {
        let configuration = try ConfigurationLoader.parse("""
            listeners:
              - engine: postgres
                listen: 127.0.0.1:5432
                upstream: mydb.abc.eu-west-1.rds.amazonaws.com
            """, file: "min.yaml")
        let listener = try #require(configuration.listeners.first)
        #expect(listener.upstream.port == 5432 && listener.tls.mode == .verifyFull && listener.iamExpirationSeconds == 870)
        #expect(listener.users == nil && listener.clientTLS == nil && listener.name == "listener0")
    }

    @Test func everySectionAndListenerWithAProblemIsReportedInOneGo() throws {
        let text = """
            http: {listen: nowhere}
            listeners:
              - {engine: oracle, listen: 127.0.0.1:1, upstream: h:1}
              - {listen: 127.0.0.1:2, upstream: h:1}
              - {listen: 127.0.0.1:3, upstream: h:1, tls: {mode: sometimes}}
            """
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(text, file: "many.yaml") }
        #expect(error?.description.split(separator: "\n").map(String.init) == [
            "many.yaml:1: http.listen: must be HOST:PORT, for example 127.0.0.1:9090",
            "many.yaml:3: listeners[0].engine: must be postgres or mysql (got oracle)",
            "many.yaml:5: listeners[2].tls.mode: must be verify-full, verify-ca or require (got sometimes)",
        ], "\(String(describing: error))")
    }

    @Test func theEngineDefaultsToPostgresAsTheREADMESays() throws {
        let configuration = try ConfigurationLoader.parse("listeners:\n  - {listen: 127.0.0.1:5432, upstream: db.example}\n", file: "min.yaml")
        #expect(configuration.listeners.first?.engine == .postgres)
    }

    @Test(arguments: [
        ("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    tls_mode: require\n", 5, "listeners[0].tls_mode", "unknown key"),
        ("listeners:\n  - engine: oracle\n    listen: 127.0.0.1:1\n    upstream: h:1\n", 2, "listeners[0].engine", "must be postgres or mysql"),
        ("listeners:\n  - engine: postgres\n    listen: nowhere\n    upstream: h:1\n", 3, "listeners[0].listen", "HOST:PORT"),
        ("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    tls: {mode: sometimes}\n", 5, "listeners[0].tls.mode", "verify-full"),
        ("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    iam_expiration: 3600\n", 5, "listeners[0].iam_expiration", "1 to 900"),
        ("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    tls: {ca_file: /no/such.pem}\n", 5, "listeners[0].tls.ca_file", "cannot read /no/such.pem"),
        ("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    tls: {mode: verify-ca}\n", 5, "listeners[0].tls.mode", "verify-ca needs tls.ca_file"),
        ("listeners:\n  - engine: postgres\n    listen: 127.0.0.1:1\n    upstream: h:1\n    allow_replication: maybe\n", 5, "listeners[0].allow_replication", "true or false"),
        ("listeners:\n  - engine: postgres\n    listen: 0.0.0.0:5432\n    upstream: h:1\n", 3, "listeners[0].listen", "0.0.0.0 is not a loopback address"),
        ("listeners:\n  - engine: mysql\n    listen: \"[::]:3306\"\n    upstream: h:1\n", 3, "listeners[0].listen", "set allow_remote: true"),
        ("aws:\n  region: us-east-1\n", nil, "listeners", "missing"),
        ("listeners: [\n", 2, "", "not valid YAML"),
        ("listeners:\n  - {listen: 127.0.0.1:1, upstream: db.example.internal:5432, topology: aurora}\n", 2, "listeners[0].instance_host_pattern",
         "topology: aurora needs instance_host_pattern"),
        ("listeners:\n  - {listen: 127.0.0.1:1, upstream: db.example.internal:5432, topology: aurora, instance_host_pattern: db.internal}\n", 2,
         "listeners[0].instance_host_pattern", "one ? where the instance id goes"),
        ("listeners:\n  - {listen: 127.0.0.1:1, upstream: db.example.internal:5432, monitor_user: m}\n", 2, "listeners[0].monitor_user",
         "applies only with a topology"),
        ("listeners:\n  - {listen: 127.0.0.1:1, upstream: a.cluster-x.us-east-1.rds.amazonaws.com, reader_fallback: maybe}\n", 2,
         "listeners[0].reader_fallback", "must be writer or fail"),
    ] as [(String, Int?, String, String)])
    func problemsNameKeyLineAndFix(yaml: String, line: Int?, keyPath: String, message: String) {
        #expect {
            try ConfigurationLoader.parse(yaml, file: "proxy.yaml")
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.file == "proxy.yaml" && error.keyPath == keyPath && error.message.contains(message) && (line == nil || error.line == line)
        }
    }

    @Test func shutdownDelaysMayBeZeroButTimeoutsMayNot() throws {
        let listener = "listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1}\n"
        let configuration = try ConfigurationLoader.parse("min_sigterm_delay: 0\nmax_sigterm_delay: 30s\n" + listener, file: "f")
        #expect(configuration.minSigtermDelay == 0 && configuration.maxSigtermDelay == 30)
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parse("listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1, idle_timeout: 0}\n", file: "f")
        }
    }

    @Test func eventLoopsAreAutoOrACount() throws {
        let listener = "listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1}\n"
        let automatic = try ConfigurationLoader.parse(listener, file: "f")
        #expect(automatic.eventLoops == nil)
        #expect(automatic.eventLoopCount(cores: 2) == 1 && automatic.eventLoopCount(cores: 1) == 1 && automatic.eventLoopCount(cores: 16) == 8,
                "auto: half the cores, at least one (a sidecar shares its machine)")
        #expect(try ConfigurationLoader.parse("event_loops: auto\n" + listener, file: "f").eventLoops == nil)
        let fixed = try ConfigurationLoader.parse("event_loops: 3\n" + listener, file: "f")
        #expect(fixed.eventLoops == 3 && fixed.eventLoopCount(cores: 2) == 3)
        problemsNameKeyLineAndFix(yaml: "event_loops: 0\n" + listener, line: 1, keyPath: "event_loops",
                                  message: "must be auto or a number of threads from 1 to 256 (got 0)")
        problemsNameKeyLineAndFix(yaml: "event_loops: many\n" + listener, line: 1, keyPath: "event_loops",
                                  message: "must be auto or a number of threads from 1 to 256 (got many)")
    }

    @Test func readinessChecksAreAListOfKnownNames() throws {
        let listener = "listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1}\n"
        let configuration = try ConfigurationLoader.parse("http: {listen: 127.0.0.1:9090, readiness_checks: [connection_limit]}\n" + listener, file: "f")
        #expect(configuration.http?.readinessChecks == [.connectionLimit])
        problemsNameKeyLineAndFix(yaml: "http: {listen: 127.0.0.1:9090, readiness_checks: credentials}\n" + listener, line: 1,
                                  keyPath: "http.readiness_checks", message: "must be a list drawn from: credentials, connection_limit")
        problemsNameKeyLineAndFix(yaml: "http:\n  listen: 127.0.0.1:9090\n  readiness_checks: [credentials, tea]\n" + listener, line: 3,
                                  keyPath: "http.readiness_checks[1]", message: #"unknown check "tea""#)
    }

    @Test func secretListenersNeedTheirUsersAndASecretID() throws {
        let base = "listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1, iam_region: us-east-1"
        let read = try ConfigurationLoader.parse(base + ", auth: secret, users: [app], secret: {secret_id: \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1\"}}\n", file: "f")
        guard case .secret(let settings) = read.listeners[0].auth else { Issue.record("not a secret listener"); return }
        #expect(settings.arnRegion == "eu-west-1" && settings.versionStage == "AWSCURRENT" && settings.cacheSeconds == 300)
        problemsNameKeyLineAndFix(yaml: base + ", auth: secret, secret: {secret_id: x}}\n", line: nil, keyPath: "listeners[0].users",
                                  message: "its password must not reach any local process")
        problemsNameKeyLineAndFix(yaml: base + ", auth: secret, users: [app]}\n", line: nil, keyPath: "listeners[0].secret", message: "secret.secret_id")
        problemsNameKeyLineAndFix(yaml: base + ", auth: password}\n", line: nil, keyPath: "listeners[0].auth", message: "must be iam or secret")
        problemsNameKeyLineAndFix(yaml: base + ", secret: {secret_id: x}}\n", line: nil, keyPath: "listeners[0].secret", message: "needs auth: secret")
    }

    @Test func sessionReuseKeysAreReadWithTheirBounds() throws {
        let base = "listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1, session_reuse: "
        let off = try ConfigurationLoader.parse("listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: h:1}\n", file: "f")
        #expect(off.listeners[0].sessionReuse == SessionReuseSettings() && !off.listeners[0].sessionReuse.isOn)
        let read = try ConfigurationLoader.parse(
            base + "{mode: reuse, min_idle: 2, max_idle: 8, max_total: 20, max_lifetime: 600, max_uses: 50, idle_timeout: 30s, ready_min_idle: 1}}\n", file: "f")
        let settings = read.listeners[0].sessionReuse
        #expect(settings.mode == .reuse && settings.minIdle == 2 && settings.maxIdle == 8 && settings.maxTotal == 20)
        #expect(settings.maxLifetimeSeconds == 600 && settings.maxUses == 50 && settings.idleTimeoutSeconds == 30 && settings.readyMinIdle == 1)
        problemsNameKeyLineAndFix(yaml: base + "{mode: always}}\n", line: 2, keyPath: "listeners[0].session_reuse.mode", message: "must be off, warm or reuse")
        problemsNameKeyLineAndFix(yaml: base + "{mode: reuse, max_uses: 0}}\n", line: 2, keyPath: "listeners[0].session_reuse.max_uses", message: "from 1")
        problemsNameKeyLineAndFix(yaml: base + "{mode: reuse, min_idle: 9, max_idle: 8}}\n", line: 2, keyPath: "listeners[0].session_reuse.min_idle", message: "must not exceed max_idle")
        problemsNameKeyLineAndFix(yaml: base + "{mode: reuse, maxidle: 8}}\n", line: 2, keyPath: "listeners[0].session_reuse.maxidle", message: "unknown key")
        problemsNameKeyLineAndFix(yaml: base + "{mode: warm}}\n", line: 2, keyPath: "listeners[0].session_reuse.min_idle", message: "warm needs min_idle of 1 or more")
        #expect(try ConfigurationLoader.parse(base + "{mode: warm, min_idle: 2}}\n", file: "f").listeners[0].sessionReuse.mode == .warm)
        problemsNameKeyLineAndFix(yaml: "listeners:\n  - {engine: mysql, listen: 127.0.0.1:1, upstream: h:1, session_reuse: {mode: warm, min_idle: 1}}\n", line: 2,
                                  keyPath: "listeners[0].session_reuse.min_idle", message: "postgres listeners so far")
        #expect(try ConfigurationLoader.parse("listeners:\n  - {engine: mysql, listen: 127.0.0.1:1, upstream: h:1, session_reuse: {mode: reuse}}\n",
                                              file: "f").listeners[0].sessionReuse.mode == .reuse)
    }

    @Test func resolveMapsHostNamesToAddresses() throws {
        let listener = "listeners:\n  - {engine: postgres, listen: 127.0.0.1:1, upstream: db.example:5432}\n"
        let read = try ConfigurationLoader.parse("resolve:\n  DB.example: 10.0.3.17\n  other.example: \"::1\"\n" + listener, file: "f")
        #expect(read.resolve == ["db.example": "10.0.3.17", "other.example": "::1"])
        problemsNameKeyLineAndFix(yaml: "resolve:\n  db.example: db-1.internal\n" + listener, line: 2, keyPath: "resolve.db.example",
                                  message: "must be an IPv4 or IPv6 address")
        problemsNameKeyLineAndFix(yaml: "resolve: [db.example]\n" + listener, line: 1, keyPath: "resolve", message: "must be a mapping")
    }

    @Test func duplicateListenAddressIsRefused() {
        let yaml = """
            listeners:
              - {name: a, engine: postgres, listen: 127.0.0.1:7000, upstream: h:1}
              - {name: b, engine: postgres, listen: 127.0.0.1:7000, upstream: h:2}
            """
        #expect { try ConfigurationLoader.parse(yaml, file: "f") } throws: { "\($0)".contains("already used by listener a") }
    }

    @Test(arguments: [("127.0.0.1:5432", "127.0.0.1", 5432), ("[::1]:6432", "::1", 6432), ("db.example.com", "db.example.com", 3306)])
    func hostAndPortParsing(text: String, host: String, port: Int) {
        #expect(HostAndPort(text, defaultPort: 3306) == HostAndPort(host: host, port: port))
    }

    @Test func remoteListenersNeedAllowRemote() throws {
        let configuration = try ConfigurationLoader.parse("""
            listeners:
              - engine: postgres
                listen: 0.0.0.0:5432
                upstream: h:1
                allow_remote: true
              - engine: postgres
                listen: "[::1]:5433"
                upstream: h:1
            """, file: "remote.yaml")
        #expect(configuration.listeners.map(\.remoteListenProblem) == [nil, nil])
        #expect(configuration.listeners.map(\.isRemoteWithoutClientTLS) == [true, false])
    }

    @Test func anAuroraClusterEndpointFollowsItsTopologyByDefaultAndOtherHostsDoNot() throws {
        let configuration = try ConfigurationLoader.parse("""
            listeners:
              - {name: writer, listen: 127.0.0.1:1, upstream: app.cluster-abc.us-east-1.rds.amazonaws.com:5432}
              - {name: reader, listen: 127.0.0.1:2, upstream: app.cluster-ro-abc.us-east-1.rds.amazonaws.com:5432, reader_fallback: fail, topology_refresh: 5}
              - {name: custom, listen: 127.0.0.1:3, upstream: app.cluster-custom-abc.us-east-1.rds.amazonaws.com:5432}
              - {name: private, listen: 127.0.0.1:4, upstream: db.internal:5432, topology: aurora, instance_host_pattern: "?.db.internal", monitor_user: mon}
              - {name: off, listen: 127.0.0.1:5, upstream: app.cluster-abc.us-east-1.rds.amazonaws.com:5432, topology: none}
              - {name: my, engine: mysql, listen: 127.0.0.1:6, upstream: app.cluster-abc.us-east-1.rds.amazonaws.com:3306}
            """, file: "f")
        let listeners = configuration.listeners
        #expect(listeners[0].instanceHostPattern == "?.abc.us-east-1.rds.amazonaws.com" && listeners[0].effectiveRole == .writer)
        #expect(listeners[1].instanceHostPattern == "?.abc.us-east-1.rds.amazonaws.com" && listeners[1].effectiveRole == .reader)
        #expect(listeners[1].topology.readerFallback == .fail && listeners[1].topology.refreshSeconds == 5)
        #expect(listeners[2].instanceHostPattern == nil)
        #expect(listeners[3].instanceHostPattern == "?.db.internal" && listeners[3].topology.monitorUser == "mon")
        #expect(listeners[4].instanceHostPattern == nil)
        #expect(listeners[5].instanceHostPattern == "?.abc.us-east-1.rds.amazonaws.com", "Aurora MySQL alike")
    }
}
