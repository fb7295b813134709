// swift-tools-version:6.1
// libFuzzer targets, a package of their own so that `swift test` and CI never build them
// (they need `--sanitize=fuzzer`, which rebuilds every dependency). Run: scripts/fuzz.sh
import PackageDescription

let targets = [
    "FuzzPostgresHandshake", "FuzzMySQLHandshake", "FuzzMySQLCommandFramer", "FuzzConfiguration", "FuzzCredentialDocuments", "FuzzSessionReuse",
]

let package = Package(
    name: "iam-db-proxy-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "iam-db-proxy", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
    ] + targets.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                "FuzzSupport",
                .product(name: "AWSAuth", package: "iam-db-proxy"),
                .product(name: "PostgresWire", package: "iam-db-proxy"),
                .product(name: "MySQLWire", package: "iam-db-proxy"),
                .product(name: "IAMDBProxy", package: "iam-db-proxy"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/\(name)"
        )
    },
    swiftLanguageModes: [.v6]
)
