import Foundation

/// Parses the timestamps AWS services return (`2026-11-27T08:00:00Z`, with or without
/// fractional seconds, or with a numeric offset).
enum ISO8601 {
    static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let date = try? Date(trimmed, strategy: .iso8601) { return date }
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let date = try? fractional.parse(trimmed) { return date }
        // "2026-11-27T08:00:00+00:00" and "…UTC"-less variants some credential_process tools print.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: trimmed) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: trimmed)
    }
}
