import Testing

@testable import PostgresWire

@Suite struct AuthenticationAnswerTests {
    /// RFC 7677 section 3 test vector.
    @Test func scramMatchesRFC7677() throws {
        var client = SCRAMSHA256Client(password: "pencil", user: "user", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(String(decoding: client.clientFirstMessage, as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.clientFinalMessage(serverFirst: Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8))
        #expect(String(decoding: final, as: UTF8.self)
            == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try client.verify(serverFinal: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        #expect(throws: PostgresProtocolError.self) { try client.verify(serverFinal: Array("v=AAAA".utf8)) }
    }

    @Test func scramRejectsServerNonceThatDoesNotExtendOurs() {
        var client = SCRAMSHA256Client(password: "p", clientNonce: "abc")
        #expect(throws: PostgresProtocolError.self) { try client.clientFinalMessage(serverFirst: Array("r=xyz123,s=QUJD,i=4096".utf8)) }
    }

    @Test func md5AnswerMatchesPostgresFormula() {
        #expect(MD5PasswordAnswer.answer(password: "pencil", user: "user", salt: [1, 2, 3, 4]) == "md54376eb6913b38f9aaff38dc7cf19ca76")
    }
}
