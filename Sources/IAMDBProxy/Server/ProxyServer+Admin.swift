import AWSAuth
import Foundation
import NIOCore
import Logging
import ServiceLifecycle
import Synchronization

/// The running proxy as the admin HTTP server sees it (`AdminStatus`): its state, the metrics
/// exposition, and the shutdown that `POST /quitquitquit` asks for.
extension ProxyServer: AdminStatus {
    var isStarted: Bool { started.load(ordering: .acquiring) }
    var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }
    var unboundListeners: [String] { unbound.withLock { $0 } }

    /// Why no new session could be served right now because of `max_connections`, if so.
    var fullReason: String? {
        if let maximum = limits.maxOverall, limits.sessions.count >= maximum {
            return "max_connections reached (\(maximum) sessions)"
        }
        let listeners = bound.withLock { $0.map(\.runtime) }
        let full = listeners.filter { runtime in runtime.configuration.maxConnections.map { runtime.openSessionCount >= $0 } ?? false }
        if !listeners.isEmpty, full.count == listeners.count {
            return "max_connections reached on every listener"
        }
        return nil
    }

    var warmShortfall: String? {
        let short = bound.withLock { $0.map(\.runtime) }.compactMap { runtime -> String? in
            let wanted = runtime.configuration.sessionReuse.readyMinIdle
            let parked = runtime.sessionPool.parkedCount
            return parked < wanted ? "listener \(runtime.configuration.name) has \(parked) of its ready_min_idle \(wanted) warm sessions" : nil
        }
        return short.isEmpty ? nil : short.joined(separator: "; ")
    }

    var holdsCredentials: Bool { tokens.credentials.holdsUsableCredentials }

    func checkCredentials() async throws {
        _ = try await tokens.credentials.credentials()
    }

    func requestShutdown() {
        logger.info("shutdown requested over HTTP (/quitquitquit)")
        quitRequests.continuation.yield()
    }

    /// Waits for SIGTERM/SIGINT (through ServiceLifecycle) or a quitquitquit request.
    func waitForShutdownRequest() async {
        let requests = quitRequests.stream
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask {
                for await _ in requests { return }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Binds the admin HTTP server when `http.listen` is set.
    func startAdmin() async throws -> (any Channel)? {
        guard let http = configuration.http else { return nil }
        let address = http.listen
        let routes = AdminRoutes(status: self, checks: http.readinessChecks)
        let channel: any Channel
        do {
            channel = try await AdminHTTPServer.bind(address, group: group, guard: AdminRequestGuard(adminToken: http.adminToken)) { method, path in
                await routes.respond(method, path)
            }
        } catch {
            throw ProxyStartError(listener: "http", reason: "cannot listen on \(address): \(error)")
        }
        logger.info("admin HTTP server up", metadata: ["address": "\(channel.localAddress?.logDescription ?? "\(address)")"])
        return channel
    }

    func metricsExposition() -> String {
        let listeners = bound.withLock { $0.map(\.runtime) }
        let tokenStatistics = tokens.statistics
        let credentialStatistics = tokens.credentials.statisticsByProvider
        func perListener(_ value: (ListenerRuntime) -> Int) -> [(ProxyMetrics.Labels, Double)] {
            listeners.map { ([("listener", $0.configuration.name)], Double(value($0))) }
        }
        return metrics.exposition(help: ProxyMetrics.recordedHelp, families: [
            .init(name: "iam_db_proxy_connections_active", type: "gauge", help: "Sessions open now.",
                  samples: perListener { $0.openSessionCount }),
            .init(name: "iam_db_proxy_session_reuse_parked", type: "gauge",
                  help: "Upstream sessions reset and parked for the next client (session_reuse listeners); sessions in use are connections_active.",
                  samples: listeners.filter(\.sessionPool.isOn).map { ([("listener", $0.configuration.name)], Double($0.sessionPool.parkedCount)) }),
            .init(name: "iam_db_proxy_session_reuse_warm", type: "gauge",
                  help: "Of the parked sessions, those logged in ahead of time that have served no client yet (min_idle).",
                  samples: listeners.filter(\.sessionPool.isOn).map { ([("listener", $0.configuration.name)], Double($0.sessionPool.warmCount)) }),
            .init(name: "iam_db_proxy_topology_writer", type: "gauge",
                  help: "1 for the instance the topology monitor last confirmed as the writer (listeners that follow an Aurora topology); 0 while it is in doubt.",
                  samples: listeners.compactMap { runtime in
                      guard let router = runtime.router, let writer = router.writer else { return nil }
                      return ([("listener", runtime.configuration.name), ("instance", writer)], router.isInDoubt ? 0 : 1)
                  }),
            .init(name: "iam_db_proxy_topology_readers", type: "gauge", help: "Reader instances in the last topology read (listeners that follow an Aurora topology).",
                  samples: listeners.compactMap { runtime in
                      runtime.router.map { ([("listener", runtime.configuration.name)], Double($0.readers.count)) }
                  }),
            .init(name: "iam_db_proxy_bytes_relayed_total", type: "counter", help: "Bytes relayed after login, by direction.",
                  samples: listeners.flatMap { runtime in [
                      ([("listener", runtime.configuration.name), ("direction", "client_to_server")], Double(runtime.bytesUp.value)),
                      ([("listener", runtime.configuration.name), ("direction", "server_to_client")], Double(runtime.bytesDown.value)),
                  ] }),
            .init(name: "iam_db_proxy_token_signings_total", type: "counter", help: "IAM auth tokens signed.",
                  samples: [([], Double(tokenStatistics.signings))]),
            .init(name: "iam_db_proxy_token_cache_hits_total", type: "counter", help: "Logins served a cached token.",
                  samples: [([], Double(tokenStatistics.hits))]),
            .init(name: "iam_db_proxy_credential_fetches_total", type: "counter", help: "AWS credential fetches that succeeded, by provider.",
                  samples: credentialStatistics.map { ([("provider", $0.key)], Double($0.value.fetches)) }.sorted { $0.0[0].1 < $1.0[0].1 }),
            .init(name: "iam_db_proxy_credential_failures_total", type: "counter", help: "AWS credential fetches that failed, by provider.",
                  samples: credentialStatistics.map { ([("provider", $0.key)], Double($0.value.failures)) }.sorted { $0.0[0].1 < $1.0[0].1 }),
            .init(name: "iam_db_proxy_credentials_expiry_timestamp_seconds", type: "gauge",
                  help: "When the AWS credentials in use expire, in seconds since the epoch (absent for long-term keys).",
                  samples: tokens.credentials.cachedExpiration.map { [([], $0.timeIntervalSince1970)] } ?? []),
            .init(name: "iam_db_proxy_build_info", type: "gauge", help: "Always 1; the version in a label.",
                  samples: [([("version", ProxyVersion.string)], 1)]),
            .init(name: "iam_db_proxy_connection_limit", type: "gauge",
                  help: "Configured max_connections: proxy-wide (listener=\"\") and per listener, where set.",
                  samples: ([limits.maxOverall.map { ([("listener", "")], Double($0)) }]
                            + listeners.map { runtime in runtime.configuration.maxConnections.map { ([("listener", runtime.configuration.name)], Double($0)) } })
                      .compactMap { $0 }),
            .init(name: "iam_db_proxy_ready", type: "gauge",
                  help: "1 when /readiness says ready: started, not shutting down, every listener bound, and the http.readiness_checks in force.",
                  samples: [([], AdminRoutes(status: self, checks: configuration.http?.readinessChecks ?? []).isReadyWithoutWaiting ? 1 : 0)]),
            .init(name: "iam_db_proxy_credentials_available", type: "gauge",
                  help: "1 while unexpired AWS credentials are held (from the last fetch), else 0.",
                  samples: [([], holdsCredentials ? 1 : 0)]),
        ] + Self.processFamilies())
    }

    /// Memory and descriptors of the process, where the platform tells them.
    private static func processFamilies() -> [ProxyMetrics.Family] {
        let readings: [(String, String, Int?)] = [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", ProcessResources.residentBytes),
            ("process_open_fds", "Open file descriptors.", ProcessResources.openDescriptors),
            ("iam_db_proxy_heap_in_use_bytes", "Bytes allocated by malloc and not freed (glibc mallinfo2).", ProcessResources.heapInUseBytes),
        ]
        let start = ProcessResources.startTimeSeconds.map {
            ProxyMetrics.Family(name: "process_start_time_seconds", type: "gauge", help: "Start time of the process since the epoch, in seconds.",
                                samples: [([], $0)])
        }
        return readings.compactMap { name, help, value in
            value.map { .init(name: name, type: "gauge", help: help, samples: [([], Double($0))]) }
        } + [start].compactMap { $0 }
    }
}
