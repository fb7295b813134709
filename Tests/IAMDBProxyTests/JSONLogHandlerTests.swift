import Foundation
import Logging
import Testing

@testable import IAMDBProxy

@Suite struct JSONLogHandlerTests {
    @Test func oneParsableObjectWithStableKeys() throws {
        let line = JSONLogFormat.line(
            time: Date(timeIntervalSince1970: 1_800_000_000), level: .info, message: "connection closed",
            metadata: ["listener": "app", "conn": "12", "bytes_up": "0", "reason": "said \"bye\"\n", "client": "[IPv4]127.0.0.1/127.0.0.1:5000"])
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["msg"] as? String == "connection closed")
        #expect(object["level"] as? String == "info")
        #expect(object["time"] as? String == "2027-01-15T08:00:00.000Z")
        #expect(object["conn"] as? Int == 12 && object["bytes_up"] as? Int == 0)
        #expect(object["reason"] as? String == "said \"bye\"\n")
        #expect(object["listener"] as? String == "app")
    }
}
