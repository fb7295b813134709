import AWSAuth
import Logging
import NIOCore

@testable import IAMDBProxy

/// A listener's runtime for handler tests: no credentials (nothing here signs), an upstream
/// nobody dials.
enum TestRuntime {
    static func make(name: String = "test", engine: ListenerConfiguration.Engine, users: [String]? = nil,
                     credentials: (any LoginCredentialSource)? = nil, resolver: (any UpstreamResolver)? = nil) throws -> ListenerRuntime {
        var configuration = ListenerConfiguration(name: name, engine: engine, listen: HostAndPort(host: "127.0.0.1", port: engine.defaultPort),
                                                  upstream: HostAndPort(host: "db.example", port: engine.defaultPort))
        configuration.iamRegion = "us-east-1"
        configuration.users = users
        let tokens = TokenCache(credentials: CredentialCache(provider: EnvironmentCredentialProvider(environment: AWSEnvironment([:]))))
        return try ListenerRuntime(configuration: configuration, defaultRegion: nil, tokens: tokens, clientALPN: [],
                                   limits: ConnectionLimits(maxOverall: nil), metrics: ProxyMetrics(),
                                   logger: Logger(label: "test"), credentials: credentials, resolver: resolver)
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

/// An upstream that is never reached: each dial waits on a promise the test ends (or fails,
/// to stand for an unreachable server). Lets a session handler on an EmbeddedChannel go past
/// its client's startup without a real socket.
final class HeldResolver: UpstreamResolver, @unchecked Sendable {
    let endpoint = HostAndPort(host: "db.example", port: 5432)
    private(set) var dials: [EventLoopPromise<HostAndPort>] = []

    func target(on eventLoop: any EventLoop) -> EventLoopFuture<HostAndPort> {
        let promise = eventLoop.makePromise(of: HostAndPort.self)
        dials.append(promise)
        return promise.futureResult
    }

    /// Fails every dial still waiting, as a refused connection would.
    func failAll(_ error: any Error = ChannelError.connectTimeout(.seconds(10))) {
        for dial in dials { dial.fail(error) }
        dials = []
    }
}

/// A password source that never answers: the handler's login waits for it, as for a slow IMDS.
struct SilentCredentials: LoginCredentialSource {
    func password(for user: String, at server: HostAndPort) async throws -> LoginPassword {
        try await Task.sleep(for: .seconds(3_600))
        throw CancellationError()
    }
}
