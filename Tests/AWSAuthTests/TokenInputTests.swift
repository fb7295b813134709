import Testing

@testable import AWSAuth

/// The host and user a token may be signed for, rule by rule.
@Suite struct TokenInputTests {
    @Test(arguments: [
        ("db.abc.us-east-1.rds.amazonaws.com", nil),
        ("10.0.0.5", nil),
        ("[::1]", nil),
        ("[2001:db8::1]", nil),
        ("my_db-1.internal", nil),
        ("", "must not be empty"),
        ("::1", "an IPv6 address goes in brackets: [::1]"),
        ("db.example.com:9999", "takes no port (give --port 9999 and --host db.example.com)"),
        ("[::1]:5432", "must end with ]"),
        ("[not-v6]", "is not an IPv6 address"),
        ("db example", "is not a host name"),
        ("https://db.example.com", "is not a host name"),
        ("db..example", "empty label"),
    ] as [(String, String?)])
    func hosts(host: String, problem: String?) {
        let found = TokenInput.hostProblem(host)
        if let problem {
            #expect(found?.contains(problem) == true, "\(host): \(found ?? "accepted")")
        } else {
            #expect(found == nil, "\(host): \(found ?? "")")
        }
    }

    @Test func users() {
        #expect(TokenInput.userProblem("") != nil)
        #expect(TokenInput.userProblem("app user") == nil, "a user with a space is a valid database user")
    }
}
