import Crypto
import Foundation

/// SigV4 query-string presigning of a `GET https://host[:port]/?...` request with only the
/// `host` header signed: the shape of RDS and Aurora DSQL auth tokens.
///
/// Built on byte arrays rather than string interpolation: a new proxied connection that misses
/// the token cache signs on its path to the database.
public struct SigV4QueryPresigner: Sendable {
    public var service: String
    public var region: String

    public init(service: String, region: String) {
        self.service = service
        self.region = region
    }

    private typealias Pair = (name: [UInt8], value: [UInt8])

    private static let algorithmName = Array("X-Amz-Algorithm".utf8)
    private static let algorithmValue = Array(SigV4.algorithm.utf8)
    private static let credentialName = Array("X-Amz-Credential".utf8)
    private static let dateName = Array("X-Amz-Date".utf8)
    private static let expiresName = Array("X-Amz-Expires".utf8)
    private static let signedHeadersName = Array("X-Amz-SignedHeaders".utf8)
    private static let signedHeadersValue = Array("host".utf8)
    private static let securityTokenName = Array("X-Amz-Security-Token".utf8)

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
        var query: [Pair] = []
        query.reserveCapacity(parameters.count + 6)
        for parameter in parameters {
            query.append((PercentEncoding.encodedBytes(parameter.name), PercentEncoding.encodedBytes(parameter.value)))
        }
        let scopeString = scope.string
        query.append((Self.algorithmName, Self.algorithmValue))
        query.append((Self.credentialName, PercentEncoding.encodedBytes(credentials.accessKeyID + "/" + scopeString)))
        query.append((Self.dateName, Array(amzDate.timestamp.utf8)))
        query.append((Self.expiresName, Array(String(expires).utf8)))
        query.append((Self.signedHeadersName, Self.signedHeadersValue))
        if let token = credentials.sessionToken {
            query.append((Self.securityTokenName, PercentEncoding.encodedBytes(token)))
        }

        var canonicalRequest: [UInt8] = []
        canonicalRequest.reserveCapacity(query.reduce(256) { $0 + $1.name.count + $1.value.count + 2 })
        canonicalRequest.append(contentsOf: "GET\n/\n".utf8)
        let sorted = query.sorted { $0.name == $1.name ? $0.value.lexicographicallyPrecedes($1.value) : $0.name.lexicographicallyPrecedes($1.name) }
        Self.appendQuery(sorted, to: &canonicalRequest)
        canonicalRequest.append(contentsOf: "\nhost:".utf8)
        canonicalRequest.append(contentsOf: SigV4.canonicalHost(host: host, port: port).utf8)
        canonicalRequest.append(contentsOf: "\n\nhost\n".utf8)
        canonicalRequest.append(contentsOf: SigV4.emptyPayloadHash.utf8)

        let signature = SigV4.signature(
            canonicalRequestHash: Hex.lowercase(SHA256.hash(data: canonicalRequest)), timestamp: amzDate.timestamp,
            scope: scope, secret: credentials.secretAccessKey)

        var url: [UInt8] = []
        url.reserveCapacity(canonicalRequest.count + 64)
        url.append(contentsOf: host.utf8)
        if let port {
            url.append(UInt8(ascii: ":"))
            url.append(contentsOf: String(port).utf8)
        }
        url.append(contentsOf: "/?".utf8)
        Self.appendQuery(query, to: &url)
        url.append(contentsOf: "&X-Amz-Signature=".utf8)
        url.append(contentsOf: signature.utf8)
        return String(decoding: url, as: UTF8.self)
    }

    private static func appendQuery(_ pairs: [Pair], to bytes: inout [UInt8]) {
        for (index, pair) in pairs.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: "&")) }
            bytes.append(contentsOf: pair.name)
            bytes.append(UInt8(ascii: "="))
            bytes.append(contentsOf: pair.value)
        }
    }
}
