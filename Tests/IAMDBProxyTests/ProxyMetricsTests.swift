import Testing

@testable import IAMDBProxy

/// The Prometheus text the proxy renders: each histogram with its own buckets, and series that
/// exist at zero before their first event.
@Suite struct ProxyMetricsTests {
    @Test func aHistogramIsRenderedWithItsOwnBuckets() {
        let metrics = ProxyMetrics()
        metrics.observe(ProxyMetrics.sessionDuration, [("listener", "pg")], seconds: 42, buckets: ProxyMetrics.sessionBuckets)
        metrics.observe(ProxyMetrics.handshakeDuration, [("listener", "pg")], seconds: 0.02)
        let text = metrics.exposition(help: ProxyMetrics.recordedHelp, families: [])
        #expect(text.contains(#"iam_db_proxy_session_duration_seconds_bucket{listener="pg",le="10"} 0"#))
        #expect(text.contains(#"iam_db_proxy_session_duration_seconds_bucket{listener="pg",le="60"} 1"#))
        #expect(text.contains(#"iam_db_proxy_session_duration_seconds_bucket{listener="pg",le="86400"} 1"#))
        #expect(text.contains(#"iam_db_proxy_handshake_duration_seconds_bucket{listener="pg",le="0.025"} 1"#))
        #expect(!text.contains(#"iam_db_proxy_handshake_duration_seconds_bucket{listener="pg",le="86400"}"#))
    }

    @Test func aSeriesIncrementedByZeroIsShownAtZero() {
        let metrics = ProxyMetrics()
        metrics.increment(ProxyMetrics.loginFailures, [("listener", "pg"), ("class", "authentication")], by: 0)
        let text = metrics.exposition(help: ProxyMetrics.recordedHelp, families: [])
        #expect(text.contains(#"iam_db_proxy_login_failures_total{listener="pg",class="authentication"} 0"#))
    }

    @Test func loginFailuresAreClassedByWhoSaidNo() {
        #expect(ProxyMetrics.loginFailureClass(sqlState: "28000", dialed: false, noCredentials: false) == "allow_list")
        #expect(ProxyMetrics.loginFailureClass(sqlState: "28000", dialed: true, noCredentials: false) == "token_refused")
        #expect(ProxyMetrics.loginFailureClass(sqlState: "28P01", dialed: true, noCredentials: false) == "token_refused")
        #expect(ProxyMetrics.loginFailureClass(sqlState: "08001", dialed: true, noCredentials: true) == "credentials")
        #expect(ProxyMetrics.loginFailureClass(sqlState: "08001", dialed: true, noCredentials: false) == "upstream")
        #expect(ProxyMetrics.loginFailureClass(sqlState: "53300", dialed: false, noCredentials: false) == "limit")
    }
}
