import Foundation

/// Splits a `credential_process` value into arguments the way botocore does (Python's
/// `shlex.split` in POSIX mode): whitespace separates, single quotes keep everything, double
/// quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes the next
/// character. No shell runs the command, so no shell syntax applies.
enum CommandLineSplitting {
    struct UnbalancedQuote: Error {}

    static func split(_ command: String) throws -> [String] {
        var arguments: [String] = []
        var current = ""
        var inArgument = false
        var iterator = command.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n":
                if inArgument { arguments.append(current) }
                current = ""
                inArgument = false
            case "'":
                inArgument = true
                while true {
                    guard let next = iterator.next() else { throw UnbalancedQuote() }
                    if next == "'" { break }
                    current.append(next)
                }
            case "\"":
                inArgument = true
                while true {
                    guard let next = iterator.next() else { throw UnbalancedQuote() }
                    if next == "\"" { break }
                    if next == "\\", let escaped = iterator.next() {
                        if escaped != "\"" && escaped != "\\" && escaped != "$" && escaped != "`" { current.append("\\") }
                        current.append(escaped)
                    } else {
                        current.append(next)
                    }
                }
            case "\\":
                inArgument = true
                if let escaped = iterator.next() { current.append(escaped) }
            default:
                inArgument = true
                current.append(character)
            }
        }
        if inArgument { arguments.append(current) }
        return arguments
    }

    /// The executable for `name`: a path as given, else the first match on `PATH`.
    static func resolve(_ name: String, path: String?) -> String? {
        if name.contains("/") { return name }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
