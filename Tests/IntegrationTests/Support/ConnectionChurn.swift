import NIOCore
import NIOPosix

/// Many short client connections, a few dozen at a time, as health probes, port scanners and
/// refused clients make them: each connects, writes its bytes, and then either leaves at once
/// or waits for what it expects (or for the proxy to close) before leaving.
enum ConnectionChurn {
    enum Ending: Sendable {
        /// Close right after connecting and writing.
        case leaveAtOnce
        /// Wait until the answer satisfies the predicate or the proxy closes, then close.
        case waitFor(@Sendable (ByteBuffer) -> Bool)
    }

    struct Outcome: Sendable {
        /// Connections that got what they waited for (or left at once as planned).
        var served = 0
        /// Connections that timed out or could not connect.
        var failed = 0
    }

    static func run(port: Int, count: Int, concurrency: Int = 32, send: ByteBuffer? = nil, ending: Ending,
                    timeout: TimeAmount = .seconds(20)) async -> Outcome {
        await withTaskGroup(of: Outcome.self) { group in
            for worker in 0..<concurrency {
                let share = count / concurrency + (worker < count % concurrency ? 1 : 0)
                group.addTask {
                    var outcome = Outcome()
                    for _ in 0..<share {
                        if await once(port: port, send: send, ending: ending, timeout: timeout) { outcome.served += 1 } else { outcome.failed += 1 }
                    }
                    return outcome
                }
            }
            var total = Outcome()
            for await part in group {
                total.served += part.served
                total.failed += part.failed
            }
            return total
        }
    }

    private static func once(port: Int, send: ByteBuffer?, ending: Ending, timeout: TimeAmount) async -> Bool {
        switch ending {
        case .waitFor(let predicate):
            guard let answer = try? await RawPostgresClient.exchange(port: port, send: send.map { [$0] } ?? [], until: predicate, timeout: timeout) else {
                return false
            }
            return answer.closed || predicate(answer.bytes)
        case .leaveAtOnce:
            guard let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() else {
                return false
            }
            if let send { try? await channel.writeAndFlush(send) }
            try? await channel.close()
            return true
        }
    }
}
