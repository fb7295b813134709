import Foundation
import Testing

@testable import AWSAuth

/// Default endpoints of STS and Secrets Manager; the expected URLs are what botocore's resolver
/// answers (`boto3.client(service, region_name=…, config=Config(use_fips_endpoint=…)).meta.endpoint_url`).
@Suite struct ServiceEndpointTests {
    static let botocore: [(region: String, fips: Bool, secretsManager: String, sts: String)] = [
        ("us-east-1", false, "https://secretsmanager.us-east-1.amazonaws.com", "https://sts.us-east-1.amazonaws.com"),
        ("us-east-1", true, "https://secretsmanager-fips.us-east-1.amazonaws.com", "https://sts-fips.us-east-1.amazonaws.com"),
        ("cn-north-1", false, "https://secretsmanager.cn-north-1.amazonaws.com.cn", "https://sts.cn-north-1.amazonaws.com.cn"),
        ("cn-north-1", true, "https://secretsmanager-fips.cn-north-1.amazonaws.com.cn", "https://sts-fips.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", false, "https://secretsmanager.us-gov-west-1.amazonaws.com", "https://sts.us-gov-west-1.amazonaws.com"),
        ("us-gov-west-1", true, "https://secretsmanager-fips.us-gov-west-1.amazonaws.com", "https://sts.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", true, "https://secretsmanager-fips.us-iso-east-1.c2s.ic.gov", "https://sts-fips.us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", false, "https://secretsmanager.us-isob-east-1.sc2s.sgov.gov", "https://sts.us-isob-east-1.sc2s.sgov.gov"),
        ("eu-isoe-west-1", false, "https://secretsmanager.eu-isoe-west-1.cloud.adc-e.uk", "https://sts.eu-isoe-west-1.cloud.adc-e.uk"),
        ("us-isof-south-1", true, "https://secretsmanager-fips.us-isof-south-1.csp.hci.ic.gov", "https://sts-fips.us-isof-south-1.csp.hci.ic.gov"),
    ]

    @Test func defaultEndpointsMatchBotocore() {
        for row in Self.botocore {
            #expect(ServiceEndpoint.regional("secretsmanager", region: row.region, fips: row.fips) == row.secretsManager)
            #expect(ServiceEndpoint.regional("sts", region: row.region, fips: row.fips) == row.sts)
        }
    }

    @Test func fipsComesFromTheVariableThenTheProfile() throws {
        let folder = NSTemporaryDirectory() + "fips-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "[default]\nuse_fips_endpoint = true\n[profile plain]\nregion = us-east-1\n".write(toFile: folder + "/config", atomically: true, encoding: .utf8)
        let files = ["AWS_CONFIG_FILE": folder + "/config", "AWS_SHARED_CREDENTIALS_FILE": folder + "/none"]
        func client(_ variables: [String: String], profile: String = "default") -> SecretsManagerClient {
            SecretsManagerClient(environment: AWSEnvironment(variables.merging(files) { $1 }), profile: profile, region: "us-east-1")
        }
        #expect(client([:]).endpoint == "https://secretsmanager-fips.us-east-1.amazonaws.com")
        #expect(client([:], profile: "plain").endpoint == "https://secretsmanager.us-east-1.amazonaws.com")
        #expect(client(["AWS_USE_FIPS_ENDPOINT": "false"]).endpoint == "https://secretsmanager.us-east-1.amazonaws.com")
        #expect(client(["AWS_USE_FIPS_ENDPOINT": "true"], profile: "plain").endpoint == "https://secretsmanager-fips.us-east-1.amazonaws.com")
        // A configured endpoint wins over both.
        #expect(client(["AWS_USE_FIPS_ENDPOINT": "true", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:9"]).endpoint == "http://127.0.0.1:9")
    }
}
