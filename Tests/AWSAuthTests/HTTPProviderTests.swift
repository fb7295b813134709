import TestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import AWSAuth

/// Providers that call HTTP endpoints, each against a real server on loopback.
@Suite struct HTTPProviderTests {
    // MARK: IMDS

    @Test func imdsV2WithExtendedPath() async throws {
        let server = try await LocalHTTPServer { request in
            switch (request.method, request.path) {
            case (.PUT, "/latest/api/token"):
                return request.headers["x-aws-ec2-metadata-token-ttl-seconds"].first == "21600" ? .answer(status: 200, body: "TOKEN123") : .answer(status: 400, body: "")
            case (_, _) where request.headers["x-aws-ec2-metadata-token"].first != "TOKEN123":
                return .answer(status: 401, body: "")
            case (.GET, "/latest/meta-data/iam/security-credentials-extended/"):
                return .answer(status: 200, body: "my-role")
            case (.GET, "/latest/meta-data/iam/security-credentials-extended/my-role"):
                return .answer(status: 200, body: credentialDocument(key: "AKIDIMDS", extra: #""Code":"Success","#))
            default:
                return .answer(status: 404, body: "")
            }
        }
        defer { Task { await server.shutdown() } }
        let provider = InstanceMetadataCredentialProvider(environment: AWSEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]))
        let credentials = try await provider.credentials()
        #expect(credentials.accessKeyID == "AKIDIMDS" && credentials.sessionToken == "session" && credentials.source == "imds")
    }

    @Test func imdsFallsBackToClassicPathAndToV1() async throws {
        let server = try await LocalHTTPServer { request in
            switch (request.method, request.path) {
            case (.PUT, _): return .answer(status: 403, body: "")
            case (.GET, "/latest/meta-data/iam/security-credentials/"): return .answer(status: 200, body: "r\n")
            case (.GET, "/latest/meta-data/iam/security-credentials/r"): return .answer(status: 200, body: credentialDocument(key: "AKIDV1"))
            default: return .answer(status: 404, body: "")
            }
        }
        defer { Task { await server.shutdown() } }
        let environment = ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url + "/"]
        #expect(try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(environment)).credentials().accessKeyID == "AKIDV1")
        var v1Disabled = environment
        v1Disabled["AWS_EC2_METADATA_V1_DISABLED"] = "true"
        await #expect { try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(v1Disabled)).credentials() } throws: { error in
            "\(error)".contains("HTTP 403")
        }
    }

    @Test func imdsBadAnswers() async throws {
        let answers: [(LocalHTTPServer.Response, String)] = [
            (.answer(status: 500, body: "oops"), "HTTP 500"),
            (.answer(status: 200, body: "{garbage"), "not a credentials JSON"),
            (.answer(status: 200, body: #"{"Code":"AssumeRoleUnauthorizedAccess","Message":"no"}"#), "AssumeRoleUnauthorizedAccess"),
            (.hang, "timed out"),
        ]
        for (answer, expected) in answers {
            let server = try await LocalHTTPServer { request in
                switch request.path {
                case "/latest/api/token": return .answer(status: 200, body: "T")
                case "/latest/meta-data/iam/security-credentials-extended/": return .answer(status: 200, body: "role")
                default: return answer
                }
            }
            let provider = InstanceMetadataCredentialProvider(
                environment: AWSEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]), timeout: .milliseconds(300))
            await #expect { try await provider.credentials() } throws: { "\($0)".contains(expected) }
            await server.shutdown()
        }
    }

    /// botocore goes on with IMDSv1 when the token PUT fails with a server error; only a 400
    /// (a bad request) or AWS_EC2_METADATA_V1_DISABLED stops it.
    @Test func imdsTokenServerErrorFallsBackToV1() async throws {
        for status in [500, 503, 400] {
            let server = try await LocalHTTPServer { request in
                switch (request.method, request.path) {
                case (.PUT, _): return .answer(status: status, body: "")
                case (.GET, "/latest/meta-data/iam/security-credentials-extended/"): return .answer(status: 200, body: "r")
                case (.GET, "/latest/meta-data/iam/security-credentials-extended/r"): return .answer(status: 200, body: credentialDocument(key: "AKIDV1"))
                default: return .answer(status: 404, body: "")
                }
            }
            let environment = ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]
            if status == 400 {
                await #expect { try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(environment)).credentials() } throws: {
                    "\($0)".contains("HTTP 400")
                }
            } else {
                #expect(try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(environment)).credentials().accessKeyID == "AKIDV1")
                await #expect {
                    try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(environment.merging(["AWS_EC2_METADATA_V1_DISABLED": "true"]) { $1 }))
                        .credentials()
                } throws: { "\($0)".contains("forbids IMDSv1") }
            }
            await server.shutdown()
        }
    }

    /// botocore's `_evaluate_expiration`: stale or expired IMDS credentials are used for another
    /// 10 minutes + jitter instead of refused (an IMDS or STS outage), fresh ones are untouched.
    @Test func imdsExtendsStaleCredentialsLikeBotocore() async throws {
        for (expiresIn, extended) in [(-3600.0, true), (5 * 60.0, true), (14 * 60.0, true), (3600.0, false)] {
            let server = try await LocalHTTPServer { request in
                switch request.path {
                case "/latest/api/token": return .answer(status: 200, body: "T")
                case "/latest/meta-data/iam/security-credentials-extended/": return .answer(status: 200, body: "r")
                default: return .answer(status: 200, body: credentialDocument(key: "AKIDSTALE", expiresIn: expiresIn))
                }
            }
            let now = Date()
            let provider = InstanceMetadataCredentialProvider(
                environment: AWSEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]), now: { now }, jitter: { 300 })
            let credentials = try await provider.credentials()
            let remaining = try #require(credentials.expiration).timeIntervalSince(now)
            if extended {
                #expect(abs(remaining - 900) < 1, "expiring in \(expiresIn) s: extended to now + 10 min + jitter, got \(remaining)")
            } else {
                #expect(abs(remaining - expiresIn) < 2, "fresh credentials keep their expiry")
            }
            await server.shutdown()
        }
    }

    @Test func imdsDisabledOrAbsentIsNotConfigured() async throws {
        await #expect { try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(["AWS_EC2_METADATA_DISABLED": "TRUE"])).credentials() } throws: { error in
            if case .notConfigured = error as? CredentialProviderError { return true } else { return false }
        }
        let closed = try await LocalHTTPServer { _ in .answer(status: 200, body: "") }
        let url = closed.url
        await closed.shutdown()
        await #expect { try await InstanceMetadataCredentialProvider(environment: AWSEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": url])).credentials() } throws: { error in
            if case .notConfigured(_, let reason) = error as? CredentialProviderError { return reason.contains("no instance metadata service") } else { return false }
        }
    }

    // MARK: Container

    @Test func containerFullURIWithRotatingTokenFile() async throws {
        let folder = try TemporaryFolder()
        let tokenFile = try folder.write("token", "first-token\n")
        let server = try await LocalHTTPServer { request in
            request.path == "/creds" ? .answer(status: 200, body: credentialDocument(key: "AKIDPOD")) : .answer(status: 404, body: "")
        }
        defer { Task { await server.shutdown() } }
        let provider = ContainerCredentialProvider(environment: AWSEnvironment([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-file-set",
        ]))
        #expect(try await provider.credentials().accessKeyID == "AKIDPOD")
        try folder.write("token", "second-token")
        _ = try await provider.credentials()
        #expect(server.requests.map { $0.headers["authorization"].first } == ["first-token", "second-token"])
    }

    @Test func containerEndpointRules() throws {
        #expect(try ContainerCredentialProvider.endpoint(environment: AWSEnvironment(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"]))
            == "http://169.254.170.2/v2/credentials/abc")
        for allowed in ["http://127.0.0.1:80/x", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/c", "https://creds.example.com/c", "http://localhost:9/c"] {
            #expect(try ContainerCredentialProvider.endpoint(environment: AWSEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": allowed])) == allowed)
        }
        for refused in ["http://10.0.0.1/c", "http://evil.example.com/c", "ftp://127.0.0.1/c"] {
            #expect(throws: CredentialProviderError.self) {
                try ContainerCredentialProvider.endpoint(environment: AWSEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": refused]))
            }
        }
    }

    @Test func containerBadAnswers() async throws {
        for (answer, expected) in [(LocalHTTPServer.Response.answer(status: 500, body: ""), "HTTP 500"), (.answer(status: 200, body: "<xml/>"), "not a credentials JSON"), (.hang, "timed out")] {
            let server = try await LocalHTTPServer { _ in answer }
            let provider = ContainerCredentialProvider(
                environment: AWSEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/c"]), timeout: .milliseconds(300))
            await #expect { try await provider.credentials() } throws: { "\($0)".contains(expected) }
            await server.shutdown()
        }
    }

    // MARK: STS

    @Test func assumeRoleThroughSourceProfileChain() async throws {
        let server = try await LocalHTTPServer { request in
            let authorization = request.headers["authorization"].first ?? ""
            guard request.body.contains("Action=AssumeRole&") else { return .answer(status: 400, body: "") }
            if request.body.contains("role%2Fmiddle") {
                return authorization.contains("Credential=AKIDBASE/") ? .answer(status: 200, body: stsAnswer(action: "AssumeRole", key: "ASIAMIDDLE")) : .answer(status: 403, body: "")
            }
            if request.body.contains("role%2Ffinal") {
                return authorization.contains("Credential=ASIAMIDDLE/") && request.headers["x-amz-security-token"].first == "tok"
                    ? .answer(status: 200, body: stsAnswer(action: "AssumeRole", key: "ASIAFINAL")) : .answer(status: 403, body: "")
            }
            return .answer(status: 403, body: "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed &amp; logged</Message></Error></ErrorResponse>")
        }
        defer { Task { await server.shutdown() } }
        let folder = try TemporaryFolder()
        let config = try folder.write("config", """
            [profile final]
            role_arn = arn:aws:iam::123456789012:role/final
            source_profile = middle
            [profile middle]
            role_arn = arn:aws:iam::123456789012:role/middle
            source_profile = base
            [profile base]
            aws_access_key_id = AKIDBASE
            aws_secret_access_key = s
            [profile denied]
            role_arn = arn:aws:iam::123456789012:role/other
            source_profile = base
            [profile loop-a]
            role_arn = arn:aws:iam::123456789012:role/a
            source_profile = loop-b
            [profile loop-b]
            role_arn = arn:aws:iam::123456789012:role/b
            source_profile = loop-a
            """)
        let environment = AWSEnvironment(["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": folder.path + "/none", "AWS_ENDPOINT_URL_STS": server.url])
        let credentials = try await AssumeRoleCredentialProvider(profile: "final", environment: environment).credentials()
        #expect(credentials.accessKeyID == "ASIAFINAL" && credentials.secretAccessKey == "s&ecret" && credentials.expiration != nil)
        await #expect { try await AssumeRoleCredentialProvider(profile: "denied", environment: environment).credentials() } throws: {
            "\($0)".contains("AccessDenied: not allowed & logged")
        }
        await #expect { try await AssumeRoleCredentialProvider(profile: "loop-a", environment: environment).credentials() } throws: {
            "\($0)".contains("cycle: loop-a -> loop-b -> loop-a")
        }
    }

    /// botocore's STS client has the session's region: the environment's before the profile's.
    @Test func assumeRoleAsksSTSInTheEnvironmentsRegionBeforeTheProfiles() async throws {
        let server = try await LocalHTTPServer { request in
            let scope = (request.headers["authorization"].first ?? "").split(separator: "/").dropFirst(2).first.map(String.init) ?? ""
            return .answer(status: 200, body: stsAnswer(action: "AssumeRole", key: "ASIA" + scope.uppercased().replacingOccurrences(of: "-", with: "")))
        }
        defer { Task { await server.shutdown() } }
        let folder = try TemporaryFolder()
        let config = try folder.write("config", """
            [profile role]
            role_arn = arn:aws:iam::123456789012:role/r
            source_profile = base
            region = us-west-2
            [profile base]
            aws_access_key_id = AKIDBASE
            aws_secret_access_key = s
            """)
        let base = ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": folder.path + "/none", "AWS_ENDPOINT_URL_STS": server.url]
        let fromProfile = try await AssumeRoleCredentialProvider(profile: "role", environment: AWSEnvironment(base)).credentials()
        #expect(fromProfile.accessKeyID == "ASIAUSWEST2")
        let fromEnvironment = try await AssumeRoleCredentialProvider(
            profile: "role", environment: AWSEnvironment(base.merging(["AWS_DEFAULT_REGION": "eu-west-1"]) { $1 })).credentials()
        #expect(fromEnvironment.accessKeyID == "ASIAEUWEST1")
    }

    @Test func webIdentityFromEnvironment() async throws {
        let folder = try TemporaryFolder()
        let tokenFile = try folder.write("jwt", "eyJ.jwt.sig\n")
        let server = try await LocalHTTPServer { request in
            request.body.contains("Action=AssumeRoleWithWebIdentity") && request.body.contains("WebIdentityToken=eyJ.jwt.sig")
                && request.headers["authorization"].isEmpty
                ? .answer(status: 200, body: stsAnswer(action: "AssumeRoleWithWebIdentity", key: "ASIAIRSA")) : .answer(status: 400, body: "")
        }
        defer { Task { await server.shutdown() } }
        let environment = AWSEnvironment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::1:role/pod", "AWS_ENDPOINT_URL": server.url,
            "HOME": folder.path,
        ])
        let credentials = try await ProfileWebIdentityProvider(profile: "default", environment: environment, http: .init()).credentials()
        #expect(credentials.accessKeyID == "ASIAIRSA" && credentials.source == "web-identity")
    }

    @Test func webIdentityGarbageAnswer() async throws {
        let folder = try TemporaryFolder()
        let tokenFile = try folder.write("jwt", "t")
        let server = try await LocalHTTPServer { _ in .answer(status: 200, body: "<<not xml") }
        defer { Task { await server.shutdown() } }
        let environment = AWSEnvironment(["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn", "AWS_ENDPOINT_URL_STS": server.url, "HOME": folder.path])
        await #expect { try await ProfileWebIdentityProvider(profile: "default", environment: environment, http: .init()).credentials() } throws: {
            "\($0)".contains("not a credentials document")
        }
    }

    // MARK: SSO

    func ssoSetup(expiresIn: TimeInterval, refreshable: Bool) throws -> (TemporaryFolder, String) {
        let folder = try TemporaryFolder()
        let config = try folder.write("config", """
            [profile sso-dev]
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = DBAccess
            [sso-session corp]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-west-1
            """)
        var cache: [String: Any] = ["accessToken": "old-access-token", "expiresAt": Date().addingTimeInterval(expiresIn).formatted(.iso8601), "region": "eu-west-1"]
        if refreshable {
            cache.merge(["refreshToken": "refresh-1", "clientId": "cid", "clientSecret": "csecret",
                         "registrationExpiresAt": Date().addingTimeInterval(86_400).formatted(.iso8601)]) { $1 }
        }
        // sha1("corp")
        let name = ".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"
        try folder.write(name, String(decoding: try JSONSerialization.data(withJSONObject: cache), as: UTF8.self))
        return (folder, config)
    }

    @Test func ssoRefreshesTokenAheadOfExpiry() async throws {
        let (folder, config) = try ssoSetup(expiresIn: 300, refreshable: true)
        let server = try await LocalHTTPServer { request in
            switch request.path {
            case "/token":
                return request.body.contains(#""grantType":"refresh_token""#) && request.body.contains("refresh-1")
                    ? .answer(status: 200, body: #"{"accessToken":"new-access-token","expiresIn":28800,"refreshToken":"refresh-2"}"#) : .answer(status: 400, body: "")
            case "/federation/credentials":
                guard request.headers["x-amz-sso_bearer_token"].first == "new-access-token",
                    request.uri.contains("role_name=DBAccess"), request.uri.contains("account_id=111122223333")
                else { return .answer(status: 401, body: "") }
                let ms = Int64(Date().addingTimeInterval(3600).timeIntervalSince1970 * 1000)
                return .answer(status: 200, body: #"{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"s","sessionToken":"t","expiration":\#(ms)}}"#)
            default:
                return .answer(status: 404, body: "")
            }
        }
        defer { Task { await server.shutdown() } }
        let environment = AWSEnvironment(["HOME": folder.path, "AWS_CONFIG_FILE": config, "AWS_ENDPOINT_URL_SSO": server.url, "AWS_ENDPOINT_URL_SSO_OIDC": server.url])
        let credentials = try await SSOCredentialProvider(profile: "sso-dev", environment: environment).credentials()
        #expect(credentials.accessKeyID == "ASIASSO")
        #expect(credentials.expiration.map { $0.timeIntervalSinceNow > 3000 } == true)
        let cache = try #require(folder.read(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"))
        #expect(cache.contains("new-access-token") && cache.contains("refresh-2"))
    }

    @Test func ssoExpiredTokenAsksForLogin() async throws {
        let (folder, config) = try ssoSetup(expiresIn: -60, refreshable: false)
        let environment = AWSEnvironment(["HOME": folder.path, "AWS_CONFIG_FILE": config])
        await #expect { try await SSOCredentialProvider(profile: "sso-dev", environment: environment).credentials() } throws: {
            "\($0)".contains("aws sso login --profile sso-dev")
        }
    }
}
