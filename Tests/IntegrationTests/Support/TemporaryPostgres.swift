import Foundation
import TestSupport

/// A PostgreSQL 15 cluster of its own for one test, when the shared one cannot show something
/// without disturbing other tests (a server certificate of another kind, a streaming-replication
/// pair). TLS with `certificate` and `key`, `tcpAuthentication` for TCP logins (SCRAM unless
/// given; a standby keeps its primary's unless given), trust on its Unix socket (replication
/// too); a hot standby of another cluster with `standbyOf`. Stopped and removed when released.
final class TemporaryPostgres {
    static let bin = "/usr/lib/postgresql/15/bin"
    let folder: String
    let port: Int

    init(port: Int, certificate: String, key: String, listen: String = "127.0.0.1", tcpAuthentication: String? = nil,
         standbyOf primary: TemporaryPostgres? = nil) throws {
        self.port = port
        folder = try LoopbackScript.temporaryFolder("temporary-pg-")
        try FileManager.default.createDirectory(atPath: folder + "/run", withIntermediateDirectories: true)
        try Self.run("/usr/bin/chown", ["-R", "postgres:postgres", folder])
        if let primary {
            // A copy of the primary that follows it (-R writes standby.signal and primary_conninfo).
            try Self.asPostgres(Self.bin + "/pg_basebackup", ["-D", folder + "/data", "-h", primary.folder + "/run", "-p", "\(primary.port)",
                                                              "-U", "postgres", "-R", "-X", "stream", "-c", "fast"])
            if let tcpAuthentication { try Self.writeHBA(folder: folder, tcpAuthentication: tcpAuthentication) }
            try Self.start(folder: folder, configuration: "listen_addresses = '\(listen)'\nport = \(port)\nunix_socket_directories = '\(folder)/run'")
            return
        }
        try Self.asPostgres(Self.bin + "/initdb", ["-D", folder + "/data", "-A", "trust", "-U", "postgres"])
        for (source, name) in [(certificate, "server.pem"), (key, "server.key")] {
            try Self.run("/usr/bin/install", ["-o", "postgres", "-m", "0600", source, "\(folder)/data/\(name)"])
        }
        try Self.writeHBA(folder: folder, tcpAuthentication: tcpAuthentication ?? "scram-sha-256")
        let configuration = """
            listen_addresses = '\(listen)'
            port = \(port)
            unix_socket_directories = '\(folder)/run'
            ssl = on
            ssl_cert_file = 'server.pem'
            ssl_key_file = 'server.key'
            password_encryption = 'scram-sha-256'
            """
        try Self.start(folder: folder, configuration: configuration)
    }

    private static func writeHBA(folder: String, tcpAuthentication: String) throws {
        try "local all all trust\nlocal replication all trust\nhost all all 127.0.0.0/8 \(tcpAuthentication)\n".write(
            toFile: folder + "/data/pg_hba.conf", atomically: true, encoding: .utf8)
    }

    /// Appends `configuration` to the cluster's (later lines win) and starts it.
    private static func start(folder: String, configuration: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/data/postgresql.conf"))
        handle.seekToEndOfFile()
        handle.write(Data(("\n" + configuration + "\n").utf8))
        try handle.close()
        // The server must inherit none of this process's pipes (Foundation leaves more than 0-2
        // open in a child), or reading them to the end never ends: Python's close_fds starts it.
        try run("/usr/bin/python3", [
            "-c", "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode)",
            "/usr/sbin/runuser", "-u", "postgres", "--", bin + "/pg_ctl", "-D", folder + "/data", "-l", folder + "/server.log", "-w", "-t", "60", "start",
        ])
    }

    /// A standby becomes a primary (a failover's second half).
    func promote() throws {
        try Self.asPostgres(Self.bin + "/pg_ctl", ["-D", folder + "/data", "-w", "promote"])
    }

    /// Stops the server at once, as a crash would (a failover's first half).
    func stopImmediately() {
        _ = try? Self.asPostgres(Self.bin + "/pg_ctl", ["-D", folder + "/data", "-m", "immediate", "-w", "stop"])
    }

    /// SQL as the cluster's superuser over its socket, in `database`.
    @discardableResult
    func psql(database: String, _ statement: String) throws -> String {
        let result = try runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", "/usr/bin/psql", "-h", folder + "/run", "-p", "\(port)",
                                                          "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", statement])
        guard result.status == 0 else { throw HarnessError(description: "psql: \(result.stderr)") }
        return result.stdout
    }

    /// SQL as the cluster's superuser over its socket.
    func sql(_ statement: String) throws {
        try Self.asPostgres("/usr/bin/psql", ["-h", folder + "/run", "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-qAtc", statement])
    }

    deinit {
        _ = try? Self.asPostgres(Self.bin + "/pg_ctl", ["-D", folder + "/data", "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static func asPostgres(_ executable: String, _ arguments: [String]) throws {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let result = try runProcess(executable, arguments)
        guard result.status == 0 else { throw HarnessError(description: "\(executable) \(arguments): \(result.stderr)") }
    }
}
