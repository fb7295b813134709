/// What a MySQL or MariaDB server's login refusal most likely means for an IAM user, and what
/// to change: the row of an explicit table, matched on the server's words. nil when none matches.
enum MySQLLoginDiagnosis: LoginDiagnosis {
    static let rows: [(match: [String], cause: String)] = [
        (["access denied for user"],
         "the server did not accept the IAM token, or the user is not an IAM user: it must be IDENTIFIED WITH "
            + "AWSAuthenticationPlugin AS 'RDS', the identity's policy must allow rds-db:connect on "
            + "arn:aws:rds-db:REGION:ACCOUNT:dbuser:DB_RESOURCE_ID/USER, the token must be signed for the instance's own endpoint "
            + "and region (set iam_host when connecting through another name), and this host's clock must be right"),
        (["plugin", "not loaded"], "the server has no AWSAuthenticationPlugin: enable IAM database authentication on the instance"),
        (["unknown database"], "no such database: connect to one that exists"),
        (["too many connections"], "the server's max_connections is reached"),
        (["blocked because of many connection errors"], "the server blocked this host: FLUSH HOSTS, or raise max_connect_errors"),
    ]
}
