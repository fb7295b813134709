// swift-tools-version:6.1
// Micro benchmarks, a package of their own so that the main build and CI never compile
// ordo-one/benchmark. Run: cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "iam-db-proxy-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "iam-db-proxy", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "ProtocolBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AWSAuth", package: "iam-db-proxy"),
                .product(name: "PostgresWire", package: "iam-db-proxy"),
                .product(name: "MySQLWire", package: "iam-db-proxy"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/ProtocolBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
