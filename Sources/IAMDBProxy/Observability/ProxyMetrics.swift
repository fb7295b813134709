import Foundation
import Synchronization

/// The proxy's counters, gauges and histograms, rendered in the Prometheus text format.
/// Events are per session (a login, a failure), never per byte, so one lock is cheap enough;
/// relayed bytes are counted by `ByteCounter`s and read when scraped.
final class ProxyMetrics: Sendable {
    typealias Labels = [(String, String)]

    static let handshakeBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Sessions last from a health check's second to a pool's day.
    static let sessionBuckets: [Double] = [1, 10, 60, 300, 900, 3600, 14400, 86400]

    struct Histogram: Sendable {
        var bounds: [Double]
        var bucketCounts: [Int]
        var sum = 0.0
        var count = 0
    }

    private struct Series: Hashable, Sendable {
        let name: String
        let labels: String
    }

    private struct State: Sendable {
        var counters: [Series: Double] = [:]
        var histograms: [Series: Histogram] = [:]
    }

    private let state = Mutex(State())

    func increment(_ name: String, _ labels: Labels = [], by value: Double = 1) {
        let series = Series(name: name, labels: Self.render(labels))
        state.withLock { $0.counters[series, default: 0] += value }
    }

    func observe(_ name: String, _ labels: Labels = [], seconds: Double, buckets: [Double] = ProxyMetrics.handshakeBuckets) {
        let series = Series(name: name, labels: Self.render(labels))
        state.withLock { state in
            var histogram = state.histograms[series] ?? Histogram(bounds: buckets, bucketCounts: Array(repeating: 0, count: buckets.count))
            for (index, bound) in histogram.bounds.enumerated() where seconds <= bound { histogram.bucketCounts[index] += 1 }
            histogram.sum += seconds
            histogram.count += 1
            state.histograms[series] = histogram
        }
    }

    /// One metric family for the text format; `samples` are (labels, value).
    struct Family {
        var name: String
        var type: String
        var help: String
        var samples: [(Labels, Double)]
    }

    /// The exposition: the recorded counters and histograms (with their help texts) followed
    /// by `families` computed at scrape time.
    func exposition(help: [String: (type: String, help: String)], families: [Family]) -> String {
        let snapshot = state.withLock { $0 }
        var text = ""
        let names = Set(snapshot.counters.keys.map(\.name)).union(snapshot.histograms.keys.map(\.name)).union(help.keys).sorted()
        for name in names {
            let (type, helpText) = help[name] ?? ("counter", name)
            text += "# HELP \(name) \(helpText)\n# TYPE \(name) \(type)\n"
            for (series, value) in snapshot.counters.filter({ $0.key.name == name }).sorted(by: { $0.key.labels < $1.key.labels }) {
                text += "\(name)\(series.labels.isEmpty ? "" : "{\(series.labels)}") \(Self.number(value))\n"
            }
            for (series, histogram) in snapshot.histograms.filter({ $0.key.name == name }).sorted(by: { $0.key.labels < $1.key.labels }) {
                let prefix = series.labels.isEmpty ? "" : series.labels + ","
                for (index, bound) in histogram.bounds.enumerated() {
                    text += "\(name)_bucket{\(prefix)le=\"\(Self.number(bound))\"} \(histogram.bucketCounts[index])\n"
                }
                text += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(histogram.count)\n"
                let labels = series.labels.isEmpty ? "" : "{\(series.labels)}"
                text += "\(name)_sum\(labels) \(Self.number(histogram.sum))\n\(name)_count\(labels) \(histogram.count)\n"
            }
        }
        for family in families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for (labels, value) in family.samples {
                let rendered = Self.render(labels)
                text += "\(family.name)\(rendered.isEmpty ? "" : "{\(rendered)}") \(Self.number(value))\n"
            }
        }
        return text
    }

    static func render(_ labels: Labels) -> String {
        labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
