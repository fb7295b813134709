import Foundation
import Testing

@testable import AWSAuth

@Suite struct ISO8601Tests {
    static let reference = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    @Test(arguments: [
        ("2027-01-15T08:00:00Z", 0.0), ("2027-01-15T08:00:00.5Z", 0.5), ("2027-01-15T08:00:00.123456789Z", 0.123456789),
        ("2027-01-15T09:00:00+01:00", 0), ("2027-01-15T03:30:00-0430", 0), ("2027-01-15T08:00:00", 0), ("2027-01-15t08:00:00z", 0),
        (" 2027-01-15T08:00:00Z ", 0), ("2027-01-15 08:00:00Z", 0),
    ])
    func parsesWhatAWSAndCredentialToolsWrite(text: String, fraction: Double) throws {
        let date = try #require(ISO8601.parse(text))
        #expect(abs(date.timeIntervalSince(Self.reference) - fraction) < 1e-6, "\(text) -> \(date)")
    }

    @Test func agreesWithFoundationOverManyDates() throws {
        let formatter = ISO8601DateFormatter()
        for seconds in stride(from: -2_000_000_000, through: 4_000_000_000, by: 7_654_321) {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            #expect(ISO8601.parse(formatter.string(from: date)) == date)
        }
    }

    @Test func refusesMalformedTimesWithoutCrashing() {
        // Regression (fuzzer): Foundation's ISO8601DateFormatter died with SIGFPE in ICU on a
        // fraction of ~80 digits; this input came from a credentials document.
        let fuzzerFinding = "2027-01-15T08:00:00.123454" + String(repeating: "4", count: 60) + "6+01:00"
        #expect(ISO8601.parse(fuzzerFinding) != nil)
        for bad in ["", "2027-13-01T00:00:00Z", "2027-02-29T00:00:00Z", "2027-01-15T24:00:00Z", "2027-01-15T08:00:00.Z",
                    "2027-01-15T08:00:00+1", "2027-01-15T08:00:00Zjunk", "2027-1-15T08:00:00Z", "tomorrow", "2027-01-15"] {
            #expect(ISO8601.parse(bad) == nil, "\(bad)")
        }
        #expect(ISO8601.parse("2028-02-29T00:00:00Z") != nil)
    }
}
