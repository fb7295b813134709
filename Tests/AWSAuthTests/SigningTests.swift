import TestSupport
import Foundation
import Testing

@testable import AWSAuth

@Suite struct SigningTests {
    @Test func botocoreRDSVector() {
        let credentials = AWSCredentials(accessKeyID: "akid", secretAccessKey: "skid")
        let date = Date(timeIntervalSince1970: 1_478_540_373)  // 2016-11-07T17:39:33Z
        let token = RDSAuthToken.make(
            for: RDSTokenRequest(host: "prod-instance.us-east-1.rds.amazonaws.com", port: 3306, user: "someusername", region: "us-east-1"),
            credentials: credentials, date: date)
        #expect(token == "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername"
            + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request"
            + "&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61")
    }

    @Test func botocoreDSQLVector() {
        let credentials = AWSCredentials(accessKeyID: "ACCESS_KEY", secretAccessKey: "SECRET_KEY", sessionToken: "SESSION_TOKEN")
        let date = Date(timeIntervalSince1970: 1_731_001_173)  // 2024-11-07T17:39:33Z
        let token = DSQLAuthToken.make(host: "test.dsql.us-east-1.on.aws", region: "us-east-1", action: .connect, credentials: credentials, date: date)
        #expect(token.hasPrefix("test.dsql.us-east-1.on.aws/?Action=DbConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256"))
        #expect(token.contains("&X-Amz-Security-Token=SESSION_TOKEN&X-Amz-Signature="))
        #expect(token.hasSuffix("X-Amz-Signature=57fe03e060348aaa21405c239bf02572bbc911076e94dcd65c12ae569dd8fcf4"))
    }

    @Test func dsqlAdminUserSelectsAdminAction() {
        #expect(DSQLAuthToken.Action(user: "admin") == .connectAdmin)
        #expect(DSQLAuthToken.Action(user: "app") == .connect)
    }

    @Test func emptySessionTokenIsOmitted() {
        let credentials = AWSCredentials(accessKeyID: "akid", secretAccessKey: "skid", sessionToken: "")
        let token = RDSAuthToken.make(
            for: RDSTokenRequest(host: "h.example", port: 5432, user: "u", region: "us-east-1"), credentials: credentials, date: Date())
        #expect(!token.contains("X-Amz-Security-Token"))
        #expect(credentials.sessionToken == nil)
    }

    @Test func canonicalHostDropsOnly443AndLowercases() {
        #expect(SigV4.canonicalHost(host: "DB.Example", port: 443) == "db.example")
        #expect(SigV4.canonicalHost(host: "DB.Example", port: 5432) == "db.example:5432")
        #expect(SigV4.canonicalHost(host: "DB.Example", port: nil) == "db.example")
    }

    @Test(arguments: [
        ("plain-user_1.x~", "plain-user_1.x~"), ("a@b", "a%40b"), ("a b", "a%20b"), ("a/b+c=d%", "a%2Fb%2Bc%3Dd%25"),
        ("é", "%C3%A9"), ("中", "%E4%B8%AD"),
    ])
    func percentEncoding(input: String, expected: String) {
        #expect(PercentEncoding.encode(input) == expected)
    }

    @Test(arguments: [
        (0.0, "19700101T000000Z"), (1_478_540_373.9, "20161107T173933Z"), (951_782_400, "20000229T000000Z"),
        (4_107_542_399, "21000228T235959Z"), (1_798_761_600, "20270101T000000Z"),
    ])
    func amzDate(seconds: Double, expected: String) {
        #expect(AmzDate(Date(timeIntervalSince1970: seconds)).timestamp == expected)
    }

    @Test func credentialsDescriptionNeverShowsSecrets() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "SECRETSECRET", sessionToken: "TOKENTOKEN")
        let text = "\(credentials) \(String(reflecting: credentials))"
        #expect(text.contains("AKIDEXAMPLE"))
        #expect(!text.contains("SECRETSECRET"))
        #expect(!text.contains("TOKENTOKEN"))
    }

    /// The AWS documentation's SigV4 header example for IAM ListUsers (GET with query omitted
    /// here): checks the header signer's canonical form against a signature computed by boto3.
    @Test func headerSignerMatchesBoto3() throws {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "tok/en+=")
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let body = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx&RoleSessionName=s"
        let headers = SigV4HeaderSigner(service: "sts", region: "eu-west-1").signedHeaders(
            method: "POST", host: "sts.eu-west-1.amazonaws.com", port: nil, path: "/",
            contentType: "application/x-www-form-urlencoded; charset=utf-8", body: body, credentials: credentials, date: date)
        let script = """
            import datetime, sys, botocore.auth, botocore.awsrequest, botocore.credentials
            botocore.auth.get_current_datetime = lambda: datetime.datetime(2023, 11, 14, 22, 13, 20)
            req = botocore.awsrequest.AWSRequest(method="POST", url="https://sts.eu-west-1.amazonaws.com/", data=sys.stdin.read(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
            botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok/en+="), "sts", "eu-west-1").add_auth(req)
            print(req.headers["Authorization"])
            """
        let result = try runProcess("/usr/bin/env", ["python3", "-c", script], input: body)
        try #require(result.status == 0, "\(result.stderr)")
        let authorization = try #require(headers.first { $0.name == "authorization" }?.value)
        #expect(authorization == result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
