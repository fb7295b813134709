import Testing

@testable import AWSAuth

@Suite struct RDSEndpointTests {
    typealias Kind = RDSEndpoint.Kind

    static let recognised: [(String, Kind, String?, String)] = [
        ("mydb.c9akciq32xyz.us-east-1.rds.amazonaws.com", .instance, "us-east-1", "mydb"),
        ("MyDB.C9AKCIQ32XYZ.US-EAST-1.RDS.AMAZONAWS.COM", .instance, "us-east-1", "mydb"),
        ("mydb.c9akciq32xyz.us-east-1.rds.amazonaws.com.", .instance, "us-east-1", "mydb"),
        ("app.cluster-c9akciq32xyz.eu-west-1.rds.amazonaws.com", .clusterWriter, "eu-west-1", "app"),
        ("app.cluster-ro-c9akciq32xyz.eu-west-1.rds.amazonaws.com", .clusterReader, "eu-west-1", "app"),
        ("reports.cluster-custom-c9akciq32xyz.ap-south-1.rds.amazonaws.com", .clusterCustom, "ap-south-1", "reports"),
        ("myproxy.proxy-c9akciq32xyz.us-west-2.rds.amazonaws.com", .proxy, "us-west-2", "myproxy"),
        ("ro-endpoint.endpoint.proxy-c9akciq32xyz.us-west-2.rds.amazonaws.com", .proxyCustomEndpoint, "us-west-2", "ro-endpoint"),
        ("lim.shardgrp-c9akciq32xyz.us-east-2.rds.amazonaws.com", .limitlessShardGroup, "us-east-2", "lim"),
        ("gdb.global-c9akciq32xyz.global.rds.amazonaws.com", .globalWriter, nil, "gdb"),
        ("mydb.c9akciq32xyz.rds.cn-north-1.amazonaws.com.cn", .instance, "cn-north-1", "mydb"),
        ("app.cluster-c9akciq32xyz.rds.cn-northwest-1.amazonaws.com.cn", .clusterWriter, "cn-northwest-1", "app"),
        ("mydb.c9akciq32xyz.cn-north-1.rds.amazonaws.com.cn", .instance, "cn-north-1", "mydb"),
        ("mydb.c9akciq32xyz.rds.us-gov-west-1.amazonaws.com", .instance, "us-gov-west-1", "mydb"),
        ("mydb.c9akciq32xyz.rds-fips.us-gov-east-1.amazonaws.com", .instance, "us-gov-east-1", "mydb"),
        ("mydb.c9akciq32xyz.us-east-1.rds-fips.amazonaws.com", .instance, "us-east-1", "mydb"),
        ("mydb.c9akciq32xyz.rds.us-iso-east-1.c2s.ic.gov", .instance, "us-iso-east-1", "mydb"),
        ("app.cluster-ro-c9akciq32xyz.rds.us-isob-east-1.sc2s.sgov.gov", .clusterReader, "us-isob-east-1", "app"),
        ("mydb.c9akciq32xyz.eusc-de-east-1.rds.amazonaws.eu", .instance, "eusc-de-east-1", "mydb"),
        ("my-db-01.abc.ca-central-1.rds.amazonaws.com", .instance, "ca-central-1", "my-db-01"),
    ]

    static let rejected: [String] = [
        "localhost", "127.0.0.1", "10.0.0.5", "::1", "db.internal.example.com", "",
        "mydb.c9akciq32xyz.us-east-1.rds.amazonaws.com.evil.com",
        "mydb.c9akciq32xyz.us-east-1.rdsamazonaws.com",
        "c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "a.b.c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "mydb.c9akciq32xyz.useast1.rds.amazonaws.com",
        "mydb.c9akciq32xyz.us-east-1.rds.amazonaws.org",
        "mydb..us-east-1.rds.amazonaws.com",
        "mydb.cluster-.us-east-1.rds.amazonaws.com",
        "mydb.c9a_kc.us-east-1.rds.amazonaws.com",
        "gdb.global-abc.global.rds.amazonaws.com.cn",
        "mydb.c9akciq32xyz.us-east-1.ec2.amazonaws.com",
    ]

    @Test(arguments: recognised)
    func recognisesRDSHost(host: String, kind: Kind, region: String?, identifier: String) throws {
        let endpoint = try #require(RDSEndpoint(host: host))
        #expect(endpoint.kind == kind)
        #expect(endpoint.region == region)
        #expect(endpoint.identifier == identifier)
    }

    @Test(arguments: rejected)
    func rejectsOtherHosts(host: String) {
        #expect(RDSEndpoint(host: host) == nil)
    }

    @Test func proxyEndpointsUsePublicCertificates() throws {
        #expect(try #require(RDSEndpoint(host: "p.proxy-abc.us-east-1.rds.amazonaws.com")).usesPublicCertificate)
        #expect(try !#require(RDSEndpoint(host: "i.abc.us-east-1.rds.amazonaws.com")).usesPublicCertificate)
    }

    @Test func regionResolutionOrder() throws {
        let host = "mydb.abc.eu-west-1.rds.amazonaws.com"
        #expect(try RegionResolution.region(explicit: "us-east-2", host: host, fallback: "ap-south-1") == "us-east-2")
        #expect(try RegionResolution.region(explicit: nil, host: host, fallback: "ap-south-1") == "eu-west-1")
        #expect(try RegionResolution.region(explicit: nil, host: "localhost", fallback: "ap-south-1") == "ap-south-1")
        #expect(throws: RegionResolution.Unresolved.self) { try RegionResolution.region(explicit: nil, host: "localhost", fallback: nil) }
        #expect(throws: RegionResolution.Unresolved.self) {
            try RegionResolution.region(explicit: nil, host: "g.global-abc.global.rds.amazonaws.com", fallback: nil)
        }
    }
}
