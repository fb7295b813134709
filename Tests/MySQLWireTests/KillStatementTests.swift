import Testing

@testable import MySQLWire

@Suite struct KillStatementTests {
    @Test(arguments: [
        ("KILL QUERY 2000000001", KillStatement(target: .query, connectionID: 2_000_000_001)),
        ("kill query 7;", KillStatement(target: .query, connectionID: 7)),
        ("  KILL\tCONNECTION 12 ; ", KillStatement(target: .connection, connectionID: 12)),
        ("KILL 5", KillStatement(target: .connection, connectionID: 5)),
        ("KILL HARD QUERY 9", KillStatement(target: .query, connectionID: 9)),
        ("KILL SOFT 3", KillStatement(target: .connection, connectionID: 3)),
    ])
    func parsesTheFormsClientsSend(sql: String, expected: KillStatement) {
        #expect(KillStatement(sql) == expected)
    }

    @Test(arguments: ["KILL QUERY ID 5", "KILL USER bob", "KILL", "KILL QUERY", "KILL QUERY 5 6", "SELECT 1", "KILLQUERY 5",
                      "KILL QUERY -1", "KILL QUERY 99999999999999999999999", "KILL QUERY 5; SELECT 1"])
    func leavesEverythingElseAlone(sql: String) {
        #expect(KillStatement(sql) == nil)
    }

    @Test func rewritesWithTheServersThreadID() {
        #expect(KillStatement(target: .query, connectionID: 2_000_000_004).sql(connectionID: 31) == "KILL QUERY 31")
        #expect(KillStatement(target: .connection, connectionID: 2_000_000_004).sql(connectionID: 8) == "KILL CONNECTION 8")
    }
}
