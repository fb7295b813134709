import Foundation
import Logging
import Testing

@testable import IAMDBProxy

@Suite struct TextLogHandlerTests {
    @Test func controlCharactersCannotForgeALine() {
        // Regression: with swift-log's stream handler a user name holding a newline wrote a
        // second, forged log line.
        let forged = "app\n2027-01-15T08:00:00.000Z info iam-db-proxy: user=admin session logged in"
        let line = TextLogFormat.line(
            time: Date(timeIntervalSince1970: 1_800_000_000), level: .info, label: "iam-db-proxy", message: "refused \u{1b}[31mred\r",
            metadata: ["user": "\(forged)", "db": "d\u{2028}b", "conn": "7"])
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1b}") && !line.contains("\u{2028}"))
        #expect(line == #"2027-01-15T08:00:00.000Z info iam-db-proxy: conn=7 db=d\u{2028}b user=app\n2027-01-15T08:00:00.000Z info iam-db-proxy: user=admin session logged in refused \u{1b}[31mred\r"#)
    }

    @Test func ordinaryTextIsUnchanged() {
        #expect(TextLogFormat.escaped("iam_user café 数据库") == "iam_user café 数据库")
    }
}
