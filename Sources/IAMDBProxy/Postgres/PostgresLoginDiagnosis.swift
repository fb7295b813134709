/// What a PostgreSQL server's login refusal most likely means for an IAM user, and what to
/// change: the row of an explicit table, matched on the server's words (RDS's own wording,
/// and the stock server's for the rest). nil when no row matches.
enum PostgresLoginDiagnosis: LoginDiagnosis {
    static let rows: [(match: [String], cause: String)] = [
        (["pam authentication failed"],
         "the server did not accept the IAM token: the identity's policy must allow rds-db:connect on "
            + "arn:aws:rds-db:REGION:ACCOUNT:dbuser:DB_RESOURCE_ID/USER, the token must be signed for the instance's own endpoint "
            + "and region (set iam_host when connecting through another name), and this host's clock must be right"),
        (["password authentication failed"],
         "the user is not an IAM user: GRANT rds_iam TO the user, and enable IAM database authentication on the instance"),
        (["role", "does not exist"], "no such database user: CREATE USER it, then GRANT rds_iam TO it"),
        (["database", "does not exist"], "no such database: connect to one that exists"),
        (["no pg_hba.conf entry"], "the server's host-based rules refuse this connection (on RDS, check the parameter group)"),
        (["rate exceeded"], "IAM authentication is throttled: the instance accepts a limited number of new IAM logins a second; reuse connections"),
        (["too many connections"], "the server's max_connections is reached"),
        (["remaining connection slots are reserved"], "the server's max_connections is reached"),
    ]
}
