import Foundation
import Logging
import Synchronization

/// The proxy's log handler: one event a line on standard error, as `--log-format` chose —
/// `TextLogFormat` (the default) or `JSONLogFormat`. The handler's metadata (listener, conn,
/// client, ...) and the event's are merged, the event's winning.
public struct LineLogHandler: LogHandler {
    public enum Format: String, Sendable {
        case text, json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let format: Format
    private let write: @Sendable (String) -> Void

    public init(label: String, format: Format, write: @escaping @Sendable (String) -> Void = LineLogHandler.standardError) {
        self.label = label
        self.format = format
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let message = "\(event.message)"
        switch format {
        case .text: write(TextLogFormat.line(time: Date(), level: event.level, label: label, message: message, metadata: merged))
        case .json: write(JSONLogFormat.line(time: Date(), level: event.level, message: message, metadata: merged))
        }
    }

    private static let lock = Mutex(())

    public static let standardError: @Sendable (String) -> Void = { line in
        lock.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}
