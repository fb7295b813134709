import Foundation
import TestSupport

/// Real MySQL clients pointed at a proxy: the `mariadb` command-line client and Python
/// drivers (PyMySQL, mysql-connector-python) run as separate programs.
extension ProxyHarness {
    /// `mariadb` through the proxy in plaintext; batch output without column names.
    func mariadb(_ env: TestEnvironment, user: String? = nil, password: String? = nil, _ sql: String) throws -> (status: Int32, stdout: String, stderr: String) {
        var arguments = ["-h", "127.0.0.1", "-P", "\(port)", "-u", user ?? env.mysql.iam_user, "--skip-ssl", "-N", "-B",
                         "--connect-timeout=20", "-e", sql, env.mysql.database]
        if let password { arguments.insert("-p\(password)", at: 0) }
        return try runProcess("/usr/bin/mariadb", arguments)
    }

    /// Runs a Python script with `PORT`, `USER` and `DB` set for it; returns its output.
    func python(_ env: TestEnvironment, _ script: String, user: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PORT"] = "\(port)"
        environment["USER"] = user ?? env.mysql.iam_user
        environment["DB"] = env.mysql.database
        return try runProcess("/usr/bin/env", ["python3", "-c", script], environment: environment)
    }
}
