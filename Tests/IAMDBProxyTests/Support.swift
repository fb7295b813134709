import AWSAuth
import Logging
import NIOCore

@testable import IAMDBProxy

/// A listener's runtime for handler tests: no credentials (nothing here signs), an upstream
/// nobody dials.
enum TestRuntime {
    static func make(name: String = "test", engine: ListenerConfiguration.Engine, users: [String]? = nil) throws -> ListenerRuntime {
        var configuration = ListenerConfiguration(name: name, engine: engine, listen: HostAndPort(host: "127.0.0.1", port: engine.defaultPort),
                                                  upstream: HostAndPort(host: "db.example", port: engine.defaultPort))
        configuration.iamRegion = "us-east-1"
        configuration.users = users
        let tokens = TokenCache(credentials: CredentialCache(provider: EnvironmentCredentialProvider(environment: AWSEnvironment([:]))))
        return try ListenerRuntime(configuration: configuration, defaultRegion: nil, tokens: tokens, clientALPN: [],
                                   limits: ConnectionLimits(maxOverall: nil), metrics: ProxyMetrics(),
                                   logger: Logger(label: "test"))
    }
}

/// Counts the reads that reach the front of the pipeline (the socket, in a real channel).
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}
