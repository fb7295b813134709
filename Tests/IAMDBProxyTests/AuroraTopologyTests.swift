import AWSAuth
import Foundation
import Testing

@testable import IAMDBProxy

/// Aurora groundwork, pure: instance hosts from a cluster endpoint, and the topology rows
/// filtered as the AWS wrappers filter them.
@Suite struct AuroraTopologyTests {
    @Test(arguments: [
        ("mydb.cluster-abc123xyz.us-east-1.rds.amazonaws.com", "?.abc123xyz.us-east-1.rds.amazonaws.com"),
        ("MyDB.cluster-ro-abc123xyz.us-east-1.rds.amazonaws.com.", "?.abc123xyz.us-east-1.rds.amazonaws.com"),
        ("mydb.cluster-abc123xyz.rds.cn-north-1.amazonaws.com.cn", "?.abc123xyz.rds.cn-north-1.amazonaws.com.cn"),
    ])
    func clusterAndReaderEndpointsNameTheirInstancesPattern(host: String, pattern: String) {
        #expect(AuroraInstanceHosts.pattern(forCluster: host) == pattern)
        #expect(AuroraInstanceHosts.host(instance: "mydb-instance-2", pattern: pattern) == pattern.replacingOccurrences(of: "?", with: "mydb-instance-2"))
    }

    @Test(arguments: [
        "mydb-1.abc123xyz.us-east-1.rds.amazonaws.com",                 // an instance
        "mine.cluster-custom-abc123xyz.us-east-1.rds.amazonaws.com",    // a custom endpoint
        "myproxy.proxy-abc123xyz.us-east-1.rds.amazonaws.com",          // RDS Proxy
        "db.example.internal",
    ])
    func otherHostsHaveNoInstancePattern(host: String) {
        #expect(AuroraInstanceHosts.pattern(forCluster: host) == nil)
    }

    @Test func aPatternNeedsOneQuestionMarkInAHostName() {
        #expect(AuroraInstanceHosts.isValidPattern("?.example.internal"))
        #expect(!AuroraInstanceHosts.isValidPattern("example.internal"))
        #expect(!AuroraInstanceHosts.isValidPattern("?.?.internal"))
        #expect(!AuroraInstanceHosts.isValidPattern("?"))
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func staleReadersAreDroppedTheWriterAndTheAnsweringInstanceKept() {
        let topology = AuroraTopology(rows: [
            .init(serverID: "writer", sessionID: "MASTER_SESSION_ID", lastUpdate: Self.now.addingTimeInterval(-900)),
            .init(serverID: "fresh", sessionID: "a1", lastUpdate: Self.now.addingTimeInterval(-10)),
            .init(serverID: "stale", sessionID: "a2", lastUpdate: Self.now.addingTimeInterval(-301)),
            .init(serverID: "me", sessionID: "a3", lastUpdate: nil),
        ], now: Self.now)
        #expect(topology.writer == "writer")
        #expect(topology.readers == ["me", "fresh"], "no timestamp counts as now")
    }

    @Test func twoWritersDuringAFailoverTheMostRecentWins() {
        let rows: [AuroraTopology.Row] = [
            .init(serverID: "old", sessionID: "MASTER_SESSION_ID", lastUpdate: Self.now.addingTimeInterval(-20)),
            .init(serverID: "new", sessionID: "MASTER_SESSION_ID", lastUpdate: Self.now.addingTimeInterval(-1)),
        ]
        let topology = AuroraTopology(rows: rows, now: Self.now)
        #expect(topology.writer == "new" && topology.readers == ["old"])
        #expect(AuroraTopology(rows: [], now: Self.now).writer == nil)
    }
}
