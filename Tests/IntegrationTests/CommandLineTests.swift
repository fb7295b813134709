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
}
