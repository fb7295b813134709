import Foundation
import Logging

/// `--log-format json`: one JSON object a line with stable keys (`time`, `level`, `msg`, then
/// the metadata: `listener`, `conn`, `client`, `upstream`, `user`, `db`, `duration_ms`,
/// `bytes_up`, `bytes_down`, `reason`, ...). Whole numbers are emitted as numbers.
enum JSONLogFormat {
    static func line(time: Date, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var fields = [
            "\"time\":\(quoted(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(time)))",
            "\"level\":\(quoted(level.rawValue))", "\"msg\":\(quoted(message))",
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let text = "\(value)"
            let isNumber = !text.isEmpty && text.count < 19 && text.allSatisfy(\.isNumber) && text.first != "0" || text == "0"
            fields.append("\(quoted(key)):\(isNumber ? text : quoted(text))")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
