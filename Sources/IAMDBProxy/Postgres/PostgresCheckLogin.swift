import NIOCore
import PostgresWire

/// `check --connect` as a PostgreSQL client: a startup message, then ReadyForQuery or an ErrorResponse.
final class PostgresCheckLogin: CheckLogin, @unchecked Sendable {
    /// `postgres` exists on every server (RDS too) and PUBLIC may connect to it, unlike
    /// PostgreSQL's default of a database named after the user.
    override var firstMessage: ByteBuffer? {
        FrontendMessages.startup(version: .init(major: 3, minor: 0), parameters: [("user", user), ("database", database ?? "postgres")])
    }

    override func readReplies(context: ChannelHandlerContext) {
        while let message = try? BackendMessage.decode(from: &buffer) {
            if message.type == BackendMessage.readyForQuery { return verdict.succeed(nil) }
            if message.type == BackendMessage.errorResponse {
                return verdict.succeed((try? ErrorResponse(body: message.body)).map { "\($0)" } ?? "error")
            }
        }
    }
}
