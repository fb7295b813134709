import Foundation

/// What an RDS IAM auth token is signed for. `host` must be the real RDS endpoint name (the
/// one the server knows itself by), never the proxy's address or a tunnel's.
public struct RDSTokenRequest: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String
    public var region: String

    public init(host: String, port: Int, user: String, region: String) {
        self.host = host
        self.port = port
        self.user = user
        self.region = region
    }
}

/// RDS IAM database authentication tokens, byte-identical to botocore's
/// `generate_db_auth_token`: a SigV4 presigned `GET https://HOST:PORT/?Action=connect&DBUser=USER`
/// for service `rds-db`, valid 900 seconds, without the `https://` prefix.
public enum RDSAuthToken {
    public static let lifetime = 900

    public static func make(for request: RDSTokenRequest, credentials: AWSCredentials, date: Date) -> String {
        SigV4QueryPresigner(service: "rds-db", region: request.region).presign(
            host: request.host, port: request.port,
            parameters: [("Action", "connect"), ("DBUser", request.user)],
            credentials: credentials, date: date, expires: lifetime)
    }
}

/// Aurora DSQL auth tokens (botocore `generate_db_connect_auth_token` and
/// `generate_db_connect_admin_auth_token`): service `dsql`, no port, no user parameter.
public enum DSQLAuthToken {
    public static let defaultLifetime = 900

    public enum Action: String, Sendable {
        case connect = "DbConnect"
        case connectAdmin = "DbConnectAdmin"

        /// DSQL's `admin` role needs the admin action; every other role the plain one.
        public init(user: String) { self = user == "admin" ? .connectAdmin : .connect }
    }

    public static func make(
        host: String, region: String, action: Action, credentials: AWSCredentials, date: Date,
        expires: Int = defaultLifetime
    ) -> String {
        SigV4QueryPresigner(service: "dsql", region: region).presign(
            host: host, port: nil, parameters: [("Action", action.rawValue)],
            credentials: credentials, date: date, expires: expires)
    }
}
