/// Which region signs a token: the one configured (`iam_region`), else the one the host
/// names, else the default region (configuration, `AWS_REGION`, `AWS_DEFAULT_REGION`).
public enum RegionResolution {
    public struct Unresolved: Error, CustomStringConvertible, Sendable {
        public let host: String
        public var description: String {
            "cannot tell the AWS region from host \(host); set iam_region (or --region, or AWS_REGION)"
        }
    }

    public static func region(explicit: String?, host: String, fallback: String?) throws -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let region = RDSEndpoint(host: host)?.region { return region }
        if let fallback, !fallback.isEmpty { return fallback }
        throw Unresolved(host: host)
    }
}
