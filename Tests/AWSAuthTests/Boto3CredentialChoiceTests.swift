import Foundation
import TestSupport
import Testing

@testable import AWSAuth

/// Which identity the chain signs as, compared with botocore's own choice on the same files and
/// variables (Oracle/boto3_credentials.py): where the two differ, the proxy would sign as
/// someone other than the user's AWS tools do.
@Suite struct Boto3CredentialChoiceTests {
    struct Case: Encodable {
        let name: String
        let environment: [String: String]
        let profile: String?
    }

    struct Choice: Decodable, Equatable, CustomStringConvertible {
        var access_key: String?
        var token: String?
        var error: String?
        var none: Bool?
        var description: String { error.map { "error \($0)" } ?? access_key.map { "\($0) token \(token ?? "-")" } ?? "none" }
    }

    /// The cases: every row is a machine on which the proxy once chose differently.
    static func cases(_ folder: TemporaryFolder) throws -> [Case] {
        let credentials = try folder.write("credentials", """
            [default]
            aws_access_key_id = AKIDFILEDEFAULT
            aws_secret_access_key = s
            [dev]
            aws_access_key_id = AKIDFILEDEV
            aws_secret_access_key = s
            """)
        let config = try folder.write("config", "[default]\nregion = us-east-1\n")
        let jwt = try folder.write("jwt", "eyJ.jwt.sig")
        let files = ["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config, "AWS_EC2_METADATA_DISABLED": "true", "HOME": folder.path]
        let keys = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"]
        let past = Date().addingTimeInterval(-3600).formatted(.iso8601)
        return [
            Case(name: "both session token variables: the old name wins", environment: files.merging(keys) { $1 }
                .merging(["AWS_SECURITY_TOKEN": "old", "AWS_SESSION_TOKEN": "new"]) { $1 }, profile: nil),
            Case(name: "a secret without a key id is not the environment's", environment: files.merging(["AWS_SECRET_ACCESS_KEY": "s"]) { $1 }, profile: nil),
            Case(name: "a key id without a secret stops the chain", environment: files.merging(["AWS_ACCESS_KEY_ID": "AKIDENV"]) { $1 }, profile: nil),
            Case(name: "AWS_PROFILE naming no profile, keys in the environment", environment: files.merging(keys) { $1 }
                .merging(["AWS_PROFILE": "missing"]) { $1 }, profile: nil),
            Case(name: "--profile naming no profile", environment: files, profile: "missing"),
            Case(name: "--profile over web identity variables", environment: files.merging(
                ["AWS_WEB_IDENTITY_TOKEN_FILE": jwt, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/pod"]) { $1 }, profile: "dev"),
            Case(name: "AWS_CONFIG_FILE=/dev/null with keys in the environment", environment: files.merging(keys) { $1 }
                .merging(["AWS_CONFIG_FILE": "/dev/null"]) { $1 }, profile: nil),
            Case(name: "environment keys past AWS_CREDENTIAL_EXPIRATION", environment: files.merging(keys) { $1 }
                .merging(["AWS_CREDENTIAL_EXPIRATION": past]) { $1 }, profile: nil),
            Case(name: "AWS_PROFILE naming a profile that exists", environment: files.merging(["AWS_PROFILE": "dev"]) { $1 }, profile: nil),
            Case(name: "AWS_DEFAULT_PROFILE and AWS_PROFILE both set", environment: files.merging(
                ["AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "default"]) { $1 }, profile: nil),
        ]
    }

    @Test func theChainChoosesAsBotocoreDoes() async throws {
        let folder = try TemporaryFolder()
        let cases = try Self.cases(folder)
        let oracle = repositoryRoot.appendingPathComponent("Tests/AWSAuthTests/Oracle/boto3_credentials.py").path
        let input = String(decoding: try JSONEncoder().encode(cases), as: UTF8.self)
        let result = try runProcess("/usr/bin/env", ["python3", oracle], input: input)
        try #require(result.status == 0, "botocore oracle failed: \(result.stderr)")
        let expected = try JSONDecoder().decode([Choice].self, from: Data(result.stdout.utf8))
        for (index, testCase) in cases.enumerated() {
            let ours: Choice
            do {
                let credentials = try await DefaultCredentialChain.make(profile: testCase.profile, environment: AWSEnvironment(testCase.environment)).credentials()
                ours = Choice(access_key: credentials.accessKeyID, token: credentials.sessionToken)
            } catch {
                ours = Choice(error: "\(error)")
            }
            let botocore = expected[index]
            if botocore.error != nil {
                #expect(ours.error != nil, "\(testCase.name): botocore raises \(botocore.error!), the proxy chose \(ours)")
            } else {
                #expect(ours == botocore, "\(testCase.name): botocore chose \(botocore), the proxy \(ours)")
            }
        }
    }
}
