/// A configuration problem, located: the file, the key path, the line, and what to do.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var keyPath: String
    public var line: Int?
    public var message: String
    /// Further problems of the same file (one per section or listener), so one `check` shows them all.
    public var more: [ConfigurationError] = []

    public init(file: String, keyPath: String, line: Int?, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        let first = keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
        return ([first] + more.map(\.description)).joined(separator: "\n")
    }

    /// Throws the first of `problems` carrying the others, if there are any.
    static func throwAll(_ problems: [ConfigurationError]) throws(ConfigurationError) {
        guard var first = problems.first else { return }
        first.more = Array(problems.dropFirst())
        throw first
    }
}
