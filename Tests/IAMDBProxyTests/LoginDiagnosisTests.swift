import Testing

@testable import IAMDBProxy

/// Each row of the tables that turn a server's login refusal into a likely cause, matched with
/// the servers' own words.
@Suite struct LoginDiagnosisTests {
    static let postgres: [(reason: String, cause: String)] = [
        (#"server refused login: FATAL 28000 PAM authentication failed for user "app""#, "rds-db:connect"),
        (#"server refused login: FATAL 28P01 password authentication failed for user "app""#, "GRANT rds_iam"),
        (#"server refused login: FATAL 28000 role "app" does not exist"#, "CREATE USER"),
        (#"server refused login: FATAL 3D000 database "nope" does not exist"#, "no such database"),
        (#"server refused login: FATAL 28000 no pg_hba.conf entry for host "10.0.0.1", user "app", database "db", SSL off"#, "host-based rules"),
        ("server refused login: FATAL 28000 Rate exceeded", "throttled"),
        ("server refused login: FATAL 53300 sorry, too many connections", "max_connections"),
        ("server refused login: FATAL 53300 remaining connection slots are reserved for roles with the SUPERUSER attribute", "max_connections"),
    ]

    static let mysql: [(reason: String, cause: String)] = [
        ("the server refused the login: ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.1' (using password: YES)", "AWSAuthenticationPlugin AS 'RDS'"),
        ("the server refused the login: ERROR 1524 (HY000): Plugin 'AWSAuthenticationPlugin' is not loaded", "enable IAM database authentication"),
        ("the server refused the login: ERROR 1049 (42000): Unknown database 'nope'", "no such database"),
        ("the server refused the login: ERROR 1040 (08004): Too many connections", "max_connections"),
        ("the server refused the login: ERROR 1129 (HY000): Host '10.0.0.1' is blocked because of many connection errors", "FLUSH HOSTS"),
    ]

    @Test(arguments: postgres) func aPostgreSQLRefusalHasItsCause(_ row: (reason: String, cause: String)) {
        #expect(PostgresLoginDiagnosis.likelyCause(of: row.reason)?.contains(row.cause) == true, "\(row.reason)")
    }

    @Test(arguments: mysql) func aMySQLRefusalHasItsCause(_ row: (reason: String, cause: String)) {
        #expect(MySQLLoginDiagnosis.likelyCause(of: row.reason)?.contains(row.cause) == true, "\(row.reason)")
    }

    @Test func everyRowIsExercised() {
        #expect(Self.postgres.count == PostgresLoginDiagnosis.rows.count && Self.mysql.count == MySQLLoginDiagnosis.rows.count)
    }

    @Test func anUnknownMessageHasNoCause() {
        #expect(PostgresLoginDiagnosis.likelyCause(of: "server refused login: FATAL XX000 something new") == nil)
        #expect(MySQLLoginDiagnosis.likelyCause(of: "the server refused the login: ERROR 9999 (HY000): something new") == nil)
    }
}
