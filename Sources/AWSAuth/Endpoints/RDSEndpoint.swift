/// What an RDS / Aurora host name says about itself: the kind of endpoint and its region.
///
/// Recognised forms (case-insensitive, optional trailing dot, `rds` or `rds-fips`):
/// - `<id>.<prefix?><hash>.<region>.rds.<suffix>` with prefix `cluster-`, `cluster-ro-`,
///   `cluster-custom-`, `proxy-` or `shardgrp-`;
/// - `<id>.<prefix?><hash>.rds.<region>.<suffix>` (China, GovCloud, ISO partitions);
/// - RDS Proxy custom endpoints `<name>.endpoint.proxy-<hash>.<region>.rds.<suffix>`;
/// - global writer endpoints `<id>.global-<hash>.global.rds.amazonaws.com` (no region).
public struct RDSEndpoint: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case instance
        case clusterWriter = "cluster-writer"
        case clusterReader = "cluster-reader"
        case clusterCustom = "cluster-custom"
        case proxy
        case proxyCustomEndpoint = "proxy-custom-endpoint"
        case limitlessShardGroup = "limitless-shard-group"
        case globalWriter = "global-writer"
    }

    public let kind: Kind
    /// The region the host names, nil for global writer endpoints.
    public let region: String?
    /// The instance, cluster, proxy or endpoint identifier (the labels before the hash label).
    public let identifier: String

    /// RDS Proxy endpoints present public ACM certificates (system trust store), while
    /// instances and clusters present certificates from the RDS CA bundle.
    public var usesPublicCertificate: Bool { kind == .proxy || kind == .proxyCustomEndpoint }

    private static let domainSuffixes: [[Substring]] = [
        ["amazonaws", "com", "cn"], ["amazonaws", "com"], ["c2s", "ic", "gov"], ["sc2s", "sgov", "gov"],
        ["amazonaws", "eu"], ["amazonaws", "au"], ["amazonaws", "uk"],
    ]
    private static let prefixes: [(String, Kind)] = [
        ("cluster-custom-", .clusterCustom), ("cluster-ro-", .clusterReader), ("cluster-", .clusterWriter),
        ("proxy-", .proxy), ("shardgrp-", .limitlessShardGroup),
    ]

    public init?(host: String) {
        var name = Substring(host.lowercased())
        if name.hasSuffix(".") { name = name.dropLast() }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy({ !$0.isEmpty }),
            let suffix = Self.domainSuffixes.first(where: { labels.count > $0.count && Array(labels.suffix($0.count)) == $0 })
        else { return nil }
        labels.removeLast(suffix.count)

        // The region sits either before or after the `rds` label.
        guard labels.count >= 4 else { return nil }
        let region: Substring
        if Self.isServiceLabel(labels[labels.count - 1]) {
            region = labels[labels.count - 2]
        } else if Self.isServiceLabel(labels[labels.count - 2]) {
            region = labels[labels.count - 1]
        } else {
            return nil
        }
        labels.removeLast(2)

        let hashLabel = labels.removeLast()
        if region == "global" {
            guard suffix == ["amazonaws", "com"], hashLabel.hasPrefix("global-"),
                Self.isHash(hashLabel.dropFirst("global-".count)), labels.count == 1, Self.isIdentifier(labels[0])
            else { return nil }
            self.init(kind: .globalWriter, region: nil, identifier: String(labels[0]))
            return
        }
        guard Self.isRegion(region) else { return nil }

        var kind = Kind.instance
        var hash = hashLabel
        if let (prefix, prefixKind) = Self.prefixes.first(where: { hashLabel.hasPrefix($0.0) }) {
            kind = prefixKind
            hash = hashLabel.dropFirst(prefix.count)
        }
        guard Self.isHash(hash) else { return nil }
        if kind == .proxy, labels.count == 2, labels[1] == "endpoint" {
            kind = .proxyCustomEndpoint
            labels.removeLast()
        }
        guard labels.count == 1, Self.isIdentifier(labels[0]) else { return nil }
        self.init(kind: kind, region: String(region), identifier: String(labels[0]))
    }

    public init(kind: Kind, region: String?, identifier: String) {
        self.kind = kind
        self.region = region
        self.identifier = identifier
    }

    private static func isServiceLabel(_ label: Substring) -> Bool { label == "rds" || label == "rds-fips" }

    private static func isHash(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { isLowerAlphanumeric($0) }
    }

    private static func isIdentifier(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`, `eusc-de-east-1`: letters
    /// in dash-separated parts, then a number.
    static func isRegion(_ text: Substring) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, last.utf8.allSatisfy({ (48...57).contains($0) }) else {
            return false
        }
        return parts.dropLast().allSatisfy { part in
            !part.isEmpty && part.utf8.allSatisfy { (97...122).contains($0) }
        } && !last.isEmpty
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (97...122).contains(byte) || (48...57).contains(byte)
    }
}
