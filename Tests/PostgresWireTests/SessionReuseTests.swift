import Testing

@testable import PostgresWire

/// The session key and the reuse verdict (PostgreSQL, pure): which clients may share a logged-in
/// session, and after which conversations a session may be reset and parked.
@Suite struct SessionReuseTests {
    static let v30 = StartupRequest.ProtocolVersion(major: 3, minor: 0)

    @Test func theKeyIsEveryStartupParameterAndTheProtocol() {
        let base = [("user", "app"), ("database", "appdb"), ("application_name", "web")]
        let key = PostgresSessionKey(protocolVersion: Self.v30, parameters: base)
        #expect(key == PostgresSessionKey(protocolVersion: Self.v30, parameters: base.reversed()), "order does not matter")
        #expect(key != PostgresSessionKey(protocolVersion: Self.v30, parameters: base + [("options", "-c search_path=x")]))
        #expect(key != PostgresSessionKey(protocolVersion: Self.v30, parameters: [("user", "app"), ("database", "appdb"), ("application_name", "cli")]))
        #expect(key != PostgresSessionKey(protocolVersion: .init(major: 3, minor: 2), parameters: base))
        #expect(key != PostgresSessionKey(protocolVersion: Self.v30, parameters: base + [("_pq_.test", "1")]))
        // No database given means the user's name, as the server reads it.
        #expect(PostgresSessionKey(protocolVersion: Self.v30, parameters: [("user", "app")])
                == PostgresSessionKey(protocolVersion: Self.v30, parameters: [("user", "app"), ("database", "app")]))
        #expect(PostgresSessionKey(protocolVersion: Self.v30, parameters: base + [("replication", "database")]) == nil)
        #expect(key?.description == "app@appdb (protocol 3.0, 1 more parameters)")
    }

    static func tracker(client: String, server: String) -> SessionReuseTracker {
        var tracker = SessionReuseTracker()
        // Interleaved as the wire would have them: each client message, then the server's answers.
        for (clientType, serverTypes) in zip(client.split(separator: " "), server.split(separator: " ")) {
            for type in clientType.utf8 { tracker.clientMessage(type: type) }
            for answer in serverTypes.split(separator: ",") where answer != "-" {
                let bytes = Array(answer.utf8)
                tracker.serverMessage(type: bytes[0], readyStatus: bytes.count > 1 ? bytes[1] : nil)
            }
        }
        return tracker
    }

    @Test(arguments: [
        ("Q", "T,D,C,ZI"),                       // a simple query
        ("PBDES", "1,2,T,D,C,ZI"),               // an extended-protocol batch
        ("Q Q", "C,ZT C,ZI"),                    // BEGIN; COMMIT
        ("Q Q", "C,ZT E,ZE"),                    // … then a failed statement
        ("Q", "E,ZI"),                           // an error outside a transaction leaves it idle
        ("Q d c", "G - C,ZI"),                   // COPY FROM STDIN, finished
    ])
    func reusableAfterAnsweredConversations(client: String, server: String) {
        let tracker = Self.tracker(client: client, server: server)
        let expected: SessionReuseTracker.Verdict = server.hasSuffix("ZE") ? .notReusable("a failed transaction was open") : .reusable
        #expect(tracker.verdict == expected, "\(client) / \(server)")
    }

    @Test(arguments: [
        ("Q", "C,ZT", "a transaction was open"),
        ("Q", "T,D", "a query was still running"),
        ("PBE", "1,2,D", "an extended-protocol batch was not ended with Sync"),
        ("Q d", "G -", "a COPY was open"),
        ("Q", "H", "a COPY was open"),
        ("F", "-", "the client used the fast-path function call protocol"),
    ])
    func neverReusedMidConversation(client: String, server: String, reason: String) {
        #expect(Self.tracker(client: client, server: server).verdict == .notReusable(reason))
    }
}
