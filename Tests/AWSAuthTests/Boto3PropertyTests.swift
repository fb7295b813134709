import TestSupport
import Foundation
import Testing

@testable import AWSAuth

/// Byte-for-byte agreement with boto3's `generate_db_auth_token` over generated cases.
@Suite struct Boto3PropertyTests {
    struct Case: Codable {
        var host: String
        var port: Int
        var user: String
        var region: String
        var access_key_id: String
        var secret_access_key: String
        var session_token: String?
        var epoch: Int
    }

    static let userAlphabet = Array("abcXYZ019@.-_+/% éüß中ñ")
    static let tokenAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=")
    static let regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "eu-central-2"]
    static let hostShapes = [
        "mydb.c9akciq32.REGION.rds.amazonaws.com", "MyCluster.cluster-ABC123.REGION.rds.amazonaws.com",
        "proxy1.proxy-xyz.REGION.rds.amazonaws.com", "DB.Internal.Example.COM", "localhost", "10.1.2.3",
    ]

    static func generate(count: Int, seed: UInt64) -> [Case] {
        var rng = SplitMix64(state: seed)
        func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }
        func text(_ alphabet: [Character], _ length: ClosedRange<Int>) -> String {
            String((0..<Int.random(in: length, using: &rng)).map { _ in pick(alphabet) })
        }
        return (0..<count).map { index in
            let region = pick(regions)
            var host = pick(hostShapes).replacingOccurrences(of: "REGION", with: region)
            if index % 3 == 0 { host = host.uppercased() }
            let port = pick([5432, 3306, 443, 1, 65535, Int.random(in: 1024...60000, using: &rng)])
            let temporary = index % 2 == 0
            return Case(
                host: host, port: port, user: index % 7 == 0 ? "iam_user" : text(userAlphabet, 1...24), region: region,
                access_key_id: (temporary ? "ASIA" : "AKIA") + text(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 16...16),
                secret_access_key: text(tokenAlphabet, 40...40),
                session_token: temporary ? text(tokenAlphabet, 100...900) : nil,
                epoch: Int.random(in: 1_400_000_000...2_100_000_000, using: &rng))
        }
    }

    @Test func swiftTokensEqualBoto3Tokens() throws {
        let cases = Self.generate(count: 240, seed: 0x1A4D_B0B0)
        let input = String(decoding: try JSONEncoder().encode(cases), as: UTF8.self)
        let oracle = repositoryRoot.appendingPathComponent("Tests/AWSAuthTests/Oracle/boto3_tokens.py").path
        let result = try runProcess("/usr/bin/env", ["python3", oracle], input: input)
        try #require(result.status == 0, "boto3 oracle failed: \(result.stderr)")
        let expected = try JSONDecoder().decode([String].self, from: Data(result.stdout.utf8))
        try #require(expected.count == cases.count)
        var mismatches = 0
        for (index, testCase) in cases.enumerated() {
            let credentials = AWSCredentials(
                accessKeyID: testCase.access_key_id, secretAccessKey: testCase.secret_access_key, sessionToken: testCase.session_token)
            let token = RDSAuthToken.make(
                for: RDSTokenRequest(host: testCase.host, port: testCase.port, user: testCase.user, region: testCase.region),
                credentials: credentials, date: Date(timeIntervalSince1970: TimeInterval(testCase.epoch)))
            if token != expected[index] {
                mismatches += 1
                Issue.record("case \(index) differs:\n swift \(token)\n boto3 \(expected[index])")
                if mismatches > 3 { break }
            }
        }
        #expect(mismatches == 0)
    }
}
