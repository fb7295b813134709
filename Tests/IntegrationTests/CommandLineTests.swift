import Foundation
@testable import IAMDBProxy
import TestSupport
import Testing

/// The executable's flags against the settings they stand for: every setting with a flag is
/// a flag of `run` and of `check` (so a deployment's command line can be checked as written).
@Suite struct CommandLineTests {
    func help(_ command: String) throws -> String {
        let result = try runProcess(ProxyHarness.executable, [command, "--help"])
        return result.stdout + result.stderr
    }

    @Test func everySettingsFlagIsTakenByRunAndByCheck() throws {
        let flags = ConfigurationOverlay.Setting.allCases.compactMap(\.spelling.flag)
        #expect(flags.count >= 15)
        for command in ["run", "check"] {
            let text = try help(command)
            for flag in flags where flag != "--user" {
                #expect(text.contains(flag + " ") || text.contains(flag + "\n"), "\(command) --help lacks \(flag)")
            }
            #expect(text.contains("--log-format") && text.contains("--log-level"), "\(command) lacks the logging flags")
        }
        #expect(try help("run").contains("--user"))
    }

    @Test func checkTakesARunCommandLineAsWritten() throws {
        let result = try runProcess(ProxyHarness.executable, [
            "check", "--engine", "postgres", "--listen", "127.0.0.1:5432", "--upstream", "db.example.com:5432", "--iam-region", "us-east-1", "--http-listen", "127.0.0.1:9090",
            "--readiness-checks", "credentials", "--max-sigterm-delay", "25", "--log-format", "json", "--log-level", "debug",
        ])
        #expect(result.status == 0, "\(result)")
    }

    @Test func checkSaysHowEachListenerReusesSessions() throws {
        let file = NSTemporaryDirectory() + "reuse-check-\(UUID().uuidString).yaml"
        try """
            listeners:
              - {name: app, engine: postgres, listen: 127.0.0.1:5432, upstream: db.example.com:5432, iam_region: us-east-1,
                 session_reuse: {mode: reuse, max_uses: 50}}
              - {name: plain, engine: mysql, listen: 127.0.0.1:3306, upstream: db.example.com:3306, iam_region: us-east-1}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runProcess(ProxyHarness.executable, ["check", "--config", file])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("listener app: session_reuse reuse (min_idle 0, max_idle 32, max_total 100, max_uses 50, max_lifetime 3600 s, "
                                       + "idle_timeout 300 s, ready_min_idle 0)"), "\(result.stdout)")
        #expect(!result.stdout.contains("listener plain: session_reuse"))
    }

    @Test func checkSaysWhichListenersFollowAnAuroraTopology() throws {
        let file = NSTemporaryDirectory() + "topology-check-\(UUID().uuidString).yaml"
        try """
            listeners:
              - {name: writer, listen: 127.0.0.1:5432, upstream: app.cluster-abc.us-east-1.rds.amazonaws.com:5432}
              - {name: reader, listen: 127.0.0.1:5433, upstream: app.cluster-ro-abc.us-east-1.rds.amazonaws.com:5432, reader_fallback: fail}
              - {name: plain, listen: 127.0.0.1:5434, upstream: db.example.com:5432, iam_region: us-east-1}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runProcess(ProxyHarness.executable, ["check", "--config", file])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("listener writer: topology aurora (role writer, instances ?.abc.us-east-1.rds.amazonaws.com, "
                                       + "monitor_user the first user that logs in, topology_refresh 30 s)"), "\(result.stdout)")
        #expect(result.stdout.contains("listener reader: topology aurora (role reader, instances ?.abc.us-east-1.rds.amazonaws.com, "
                                       + "monitor_user the first user that logs in, topology_refresh 30 s, reader_fallback fail)"), "\(result.stdout)")
        #expect(!result.stdout.contains("listener plain: topology"))
    }
}
