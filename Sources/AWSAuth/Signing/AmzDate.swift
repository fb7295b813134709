import Foundation

/// The two timestamp spellings SigV4 uses, `20161107T173933Z` and its date part `20161107`,
/// computed arithmetically (UTC, no calendar or formatter objects: signing is on the hot path
/// of every new proxied connection).
struct AmzDate: Sendable, Equatable {
    let timestamp: String
    var day: Substring { timestamp.prefix(8) }

    init(_ date: Date) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = AmzDate.civilDate(daysSinceEpoch: days)
        timestamp = AmzDate.pad(year, 4) + AmzDate.pad(month, 2) + AmzDate.pad(day, 2) + "T"
            + AmzDate.pad(secondOfDay / 3600, 2) + AmzDate.pad(secondOfDay % 3600 / 60, 2)
            + AmzDate.pad(secondOfDay % 60, 2) + "Z"
    }

    /// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
