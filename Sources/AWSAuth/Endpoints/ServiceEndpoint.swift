import Foundation

/// The default endpoint of a regional AWS service (STS, Secrets Manager) when nothing is
/// configured: the partition's DNS suffix by region (`amazonaws.com`, `.com.cn` in China, the
/// isolated partitions' own), and the `-fips` host when FIPS endpoints are asked for
/// (`AWS_USE_FIPS_ENDPOINT`, else the profile's `use_fips_endpoint`), as botocore resolves them.
public enum ServiceEndpoint {
    /// `https://SERVICE[-fips].REGION.SUFFIX`.
    public static func regional(_ service: String, region: String, fips: Bool) -> String {
        // GovCloud's STS endpoints are FIPS endpoints already and have no -fips name.
        let fipsHost = fips && !(service == "sts" && region.hasPrefix("us-gov-"))
        return "https://\(service)\(fipsHost ? "-fips" : "").\(region).\(dnsSuffix(region: region))"
    }

    static func dnsSuffix(region: String) -> String {
        let partitions: [(prefix: String, suffix: String)] = [
            ("cn-", "amazonaws.com.cn"), ("us-isob-", "sc2s.sgov.gov"), ("us-isof-", "csp.hci.ic.gov"),
            ("us-iso-", "c2s.ic.gov"), ("eu-isoe-", "cloud.adc-e.uk"),
        ]
        return partitions.first { region.hasPrefix($0.prefix) }?.suffix ?? "amazonaws.com"
    }

    /// Whether FIPS endpoints are asked for: the variable first, then the profile's setting.
    public static func usesFIPS(_ environment: AWSEnvironment, profile: String) -> Bool {
        if let variable = environment["AWS_USE_FIPS_ENDPOINT"] { return variable.lowercased() == "true" }
        let section = (try? SharedConfigFiles.load(environment: environment))?.profile(profile) ?? [:]
        return section["use_fips_endpoint"]?.lowercased() == "true"
    }
}
