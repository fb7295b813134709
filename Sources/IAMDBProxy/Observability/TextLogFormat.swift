import Foundation
import Logging

/// The default `--log-format text`: `TIME LEVEL LABEL: key=value ... message`, one event a
/// line. User names, database names and server messages come from clients and servers, so
/// every control character in the message and in each value is written escaped (`\n`,
/// `\u{1b}`): a name holding a newline cannot forge a second log line.
enum TextLogFormat {
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        let fields = metadata.sorted { $0.key < $1.key }.map { " \(escaped($0.key))=\(escaped("\($0.value)"))" }.joined()
        return "\(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(time)) \(level) \(label):\(fields) \(escaped(message))"
    }

    /// The text with C0 controls, DEL and the Unicode line separators written as escapes.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }
}
