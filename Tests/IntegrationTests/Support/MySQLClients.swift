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

    /// Two PyMySQL sessions: one runs `SELECT SLEEP(30)`, the other sends `KILL QUERY` for it
    /// after a second; prints the sleeper's outcome (`((1,),)` or error 1317 when the KILL
    /// worked, `((0,),)` when it did not). `beforeKill` runs once both are logged in.
    func killQueryFromAnotherSession(_ env: TestEnvironment, user: String? = nil, beforeKill: String = "") throws -> (status: Int32, stdout: String, stderr: String) {
        try python(env, """
            import json, os, pymysql, threading, time
            def connect(): return pymysql.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user=os.environ["USER"], database=os.environ["DB"])
            victim = connect()
            killer = connect()
            \(beforeKill)
            outcome = {}
            def run():
                try:
                    cur = victim.cursor(); cur.execute("SELECT SLEEP(30)"); outcome["result"] = cur.fetchall()
                except pymysql.err.OperationalError as error:
                    outcome["result"] = error.args[0]
            thread = threading.Thread(target=run); thread.start()
            time.sleep(1)
            killer.cursor().execute("KILL QUERY %d" % victim.thread_id())
            thread.join()
            print(outcome["result"])
            """, user: user)
    }
}
