import Foundation
import TestSupport
import Testing

/// `listen: unix:/path`: libpq finds `.s.PGSQL.<port>` in the directory, the mariadb client
/// connects to the socket file; permissions are applied and stale sockets replaced.
@Suite(.needsTestEnvironment, .serialized) struct UnixSocketTests {
    let env: TestEnvironment

    init() throws { env = try TestEnvironment.load() }

    func makeFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "iam-db-proxy-sockets-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    func mode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test func psqlConnectsThroughTheSocketDirectory() async throws {
        let folder = try makeFolder()
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listen: "unix:\(folder)")
        defer { proxy.stop() }
        let socket = "\(folder)/.s.PGSQL.\(env.postgres.port)"
        #expect(try mode(socket) == 0o660)
        let result = try runProcess("/usr/bin/psql", [
            "host=\(folder) port=\(env.postgres.port) dbname=appdb user=iam_user", "-XAtc", "SELECT current_user",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "iam_user\n")
        // psql has left; the proxy sees it a moment later. SIGTERM before that would cut the session.
        #expect(await proxy.logs.waitFor("connection closed"))
        proxy.sendSIGTERM()
        #expect(proxy.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is removed at exit")
    }

    @Test func mariadbConnectsThroughTheSocketFileWithTheConfiguredMode() async throws {
        let folder = try makeFolder()
        let socket = "\(folder)/mysql.sock"
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listenerYAML: #"unix_socket_mode: "0600""#,
                                                 engine: "mysql", listen: "unix:\(socket)")
        defer { proxy.stop() }
        #expect(try mode(socket) == 0o600)
        let result = try runProcess("/usr/bin/mariadb", ["--socket=\(socket)", "-u", "iam_user", "-N", "-B", "-e", "SELECT CURRENT_USER()"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "iam_user@%\n")
    }

    @Test func staleSocketIsReplacedButOtherFilesAreNot() async throws {
        let folder = try makeFolder()
        let socket = "\(folder)/.s.PGSQL.\(env.postgres.port)"
        // A socket left behind by a process that is gone.
        let stale = try runProcess("/usr/bin/env", ["python3", "-c", "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])", socket])
        #expect(stale.status == 0 && FileManager.default.fileExists(atPath: socket))
        let proxy = try await ProxyHarness.start(env, identity: env.longTerm, listen: "unix:\(folder)")
        let result = try runProcess("/usr/bin/psql", ["host=\(folder) port=\(env.postgres.port) dbname=appdb user=iam_user", "-XAtc", "SELECT 1"])
        #expect(result.status == 0, "\(result.stderr)")
        proxy.stop()

        try "not a socket".write(toFile: socket, atomically: true, encoding: .utf8)
        await #expect { try await ProxyHarness.start(env, identity: env.longTerm, listen: "unix:\(folder)") } throws: { error in
            "\(error)".contains("\(socket) exists and is not a socket; remove it or choose another path")
        }
        #expect(try String(contentsOfFile: socket, encoding: .utf8) == "not a socket")
    }
}
