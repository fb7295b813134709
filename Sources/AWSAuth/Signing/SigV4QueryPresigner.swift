import Foundation

/// SigV4 query-string presigning of a `GET https://host[:port]/?...` request with only the
/// `host` header signed: the shape of RDS and Aurora DSQL auth tokens.
public struct SigV4QueryPresigner: Sendable {
    public var service: String
    public var region: String

    public init(service: String, region: String) {
        self.service = service
        self.region = region
    }

    /// Returns the presigned URL without its `https://` prefix.
    ///
    /// `parameters` keep their order in the output; the signing parameters follow in botocore's
    /// order and the signature comes last. Only the canonical query is sorted.
    public func presign(
        host: String, port: Int?, parameters: [(name: String, value: String)],
        credentials: AWSCredentials, date: Date, expires: Int
    ) -> String {
        let amzDate = AmzDate(date)
        let scope = SigV4.Scope(day: amzDate.day, region: region, service: service)
        var query = parameters.map { (PercentEncoding.encode($0.name), PercentEncoding.encode($0.value)) }
        query.append(("X-Amz-Algorithm", SigV4.algorithm))
        query.append(("X-Amz-Credential", PercentEncoding.encode("\(credentials.accessKeyID)/\(scope.string)")))
        query.append(("X-Amz-Date", amzDate.timestamp))
        query.append(("X-Amz-Expires", String(expires)))
        query.append(("X-Amz-SignedHeaders", "host"))
        if let token = credentials.sessionToken {
            query.append(("X-Amz-Security-Token", PercentEncoding.encode(token)))
        }
        let canonicalQuery = query.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = "GET\n/\n\(canonicalQuery)\nhost:\(SigV4.canonicalHost(host: host, port: port))\n\nhost\n\(SigV4.emptyPayloadHash)"
        let signature = SigV4.signature(
            canonicalRequest: canonicalRequest, timestamp: amzDate.timestamp, scope: scope,
            secret: credentials.secretAccessKey)
        let authority = port.map { "\(host):\($0)" } ?? host
        return authority + "/?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
            + "&X-Amz-Signature=" + signature
    }
}
