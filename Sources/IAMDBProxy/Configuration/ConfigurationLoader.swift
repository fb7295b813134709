import Foundation
import NIOCore
import Yams

/// Reads the YAML configuration file. Walks the YAML tree itself (rather than decoding into
/// Codable types) so that every problem, unknown keys included, names its key path and line.
public enum ConfigurationLoader {
    public static func load(path: String) throws(ConfigurationError) -> ProxyConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, keyPath: "", line: nil, message: "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> ProxyConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, keyPath: "", line: error.line, message: "not valid YAML: \(error.problem)")
        } catch {
            throw ConfigurationError(file: file, keyPath: "", line: nil, message: "not valid YAML: \(error)")
        }
        guard let root else { throw ConfigurationError(file: file, keyPath: "", line: nil, message: "the file is empty; it needs a listeners list") }
        return try ConfigurationReader(file: file).proxy(root)
    }
}

extension YamlError {
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    var problem: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        default: "\(self)"
        }
    }
}

/// The walk over the YAML tree. Also reads the trees `ConfigurationOverlay` builds from flags
/// and environment variables, so both are checked by the same code with the same defaults;
/// `sourceNames` then names a key by the flag or variable it came from.
struct ConfigurationReader {
    let file: String
    var sourceNames: [String: String] = [:]

    func error(_ node: Node?, _ path: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, keyPath: sourceNames[path] ?? path, line: node?.mark?.line, message: message)
    }

    /// The mapping's entries by key, after checking there is no key outside `known`.
    func mapping(_ node: Node, _ path: String, known: [String]) throws(ConfigurationError) -> [String: Node] {
        guard case .mapping(let mapping) = node else { throw error(node, path, "must be a mapping of keys to values") }
        var entries: [String: Node] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw error(key, path, "keys must be plain names") }
            let keyPath = path.isEmpty ? scalar.string : "\(path).\(scalar.string)"
            guard known.contains(scalar.string) else {
                throw error(key, keyPath, "unknown key; known keys here: \(known.joined(separator: ", "))")
            }
            guard entries[scalar.string] == nil else { throw error(key, keyPath, "appears twice") }
            entries[scalar.string] = value
        }
        return entries
    }

    func string(_ node: Node?, _ path: String) throws(ConfigurationError) -> String? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node, scalar.tag.description == Tag.Name.null.rawValue || (scalar.string == "~" || scalar.string == "null") && scalar.style == .plain {
            return nil
        }
        guard case .scalar(let scalar) = node else { throw error(node, path, "must be a single value") }
        guard !scalar.string.isEmpty else { throw error(node, path, "must not be empty") }
        return scalar.string
    }

    func integer(_ node: Node?, _ path: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let text = try string(node, path) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw error(node, path, "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(text))")
        }
        return value
    }

    func boolean(_ node: Node?, _ path: String) throws(ConfigurationError) -> Bool? {
        guard let text = try string(node, path) else { return nil }
        guard let value = Bool(text) else { throw error(node, path, "must be true or false (got \(text))") }
        return value
    }

    /// A duration in seconds (a trailing `s` allowed); `allowZero` for delays that may be none.
    func seconds(_ node: Node?, _ path: String, allowZero: Bool = false) throws(ConfigurationError) -> Double? {
        guard let text = try string(node, path) else { return nil }
        guard let value = Double(text.hasSuffix("s") ? String(text.dropLast()) : text), allowZero ? value >= 0 : value > 0, value <= 86_400 else {
            throw error(node, path, "must be a number of seconds \(allowZero ? "from 0" : "greater than 0") (got \(text))")
        }
        return value
    }

    /// `auto` (nil) or a thread count.
    func eventLoops(_ node: Node?, _ path: String) throws(ConfigurationError) -> Int? {
        guard let text = try string(node, path), text != "auto" else { return nil }
        guard let count = Int(text), (1...256).contains(count) else {
            throw error(node, path, "must be auto or a number of threads from 1 to 256 (got \(text))")
        }
        return count
    }

    func proxy(_ root: Node) throws(ConfigurationError) -> ProxyConfiguration {
        let top = try mapping(root, "", known: [
            "aws", "http", "listeners", "max_connections", "min_sigterm_delay", "max_sigterm_delay", "exit_zero_on_sigterm", "resolve",
            "event_loops",
        ])
        var configuration = ProxyConfiguration()
        // Every section is read even after a problem, so one run shows every problem (the first of each).
        var problems: [ConfigurationError] = []
        func collect(_ read: () throws(ConfigurationError) -> Void) {
            do throws(ConfigurationError) { try read() } catch { problems.append(error) }
        }
        collect { () throws(ConfigurationError) in
            if let delay = try seconds(top["min_sigterm_delay"], "min_sigterm_delay", allowZero: true) { configuration.minSigtermDelay = delay }
            if let delay = try seconds(top["max_sigterm_delay"], "max_sigterm_delay", allowZero: true) { configuration.maxSigtermDelay = delay }
            if let exitZero = try boolean(top["exit_zero_on_sigterm"], "exit_zero_on_sigterm") { configuration.exitZeroOnSigterm = exitZero }
            configuration.maxConnections = try integer(top["max_connections"], "max_connections", range: 1...1_000_000)
            configuration.eventLoops = try eventLoops(top["event_loops"], "event_loops")
        }
        collect { () throws(ConfigurationError) in if let awsNode = top["aws"] { configuration.aws = try aws(awsNode) } }
        collect { () throws(ConfigurationError) in if let httpNode = top["http"] { configuration.http = try http(httpNode) } }
        collect { () throws(ConfigurationError) in if let resolveNode = top["resolve"] { configuration.resolve = try resolve(resolveNode) } }
        guard let listenersNode = top["listeners"] else {
            try ConfigurationError.throwAll(problems + [error(root, "listeners", "missing; add at least one listener")])
            return configuration
        }
        guard case .sequence(let listeners) = listenersNode, !listeners.isEmpty else {
            try ConfigurationError.throwAll(problems + [error(listenersNode, "listeners", "must be a non-empty list of listeners")])
            return configuration
        }
        var read: [(listener: ListenerConfiguration, node: Node, index: Int)] = []
        for (index, node) in listeners.enumerated() {
            collect { () throws(ConfigurationError) in read.append((try listener(node, "listeners[\(index)]", index: index), node, index)) }
        }
        configuration.listeners = read.map(\.listener)
        collect { () throws(ConfigurationError) in try checkUnique(read) }
        try ConfigurationError.throwAll(problems)
        return configuration
    }

    /// `resolve:` host → IP address.
    func resolve(_ node: Node) throws(ConfigurationError) -> [String: String] {
        guard case .mapping(let mapping) = node else { throw error(node, "resolve", "must be a mapping of host names to IP addresses") }
        var addresses: [String: String] = [:]
        for (key, value) in mapping {
            guard case .scalar(let host) = key, !host.string.isEmpty else { throw error(key, "resolve", "keys must be host names") }
            let path = "resolve.\(host.string)"
            guard let address = try string(value, path), (try? SocketAddress(ipAddress: address, port: 0)) != nil else {
                throw error(value, path, "must be an IPv4 or IPv6 address, such as 10.0.3.17 (a name would need DNS, which this key replaces)")
            }
            guard addresses[host.string.lowercased()] == nil else { throw error(key, path, "appears twice") }
            addresses[host.string.lowercased()] = address
        }
        return addresses
    }

    func aws(_ node: Node) throws(ConfigurationError) -> ProxyConfiguration.AWSSettings {
        let aws = try mapping(node, "aws", known: ["region", "profile"])
        return .init(region: try string(aws["region"], "aws.region"), profile: try string(aws["profile"], "aws.profile"))
    }

    func http(_ node: Node) throws(ConfigurationError) -> ProxyConfiguration.HTTPSettings {
        let http = try mapping(node, "http", known: ["listen", "admin_token", "readiness_checks"])
        guard let text = try string(http["listen"], "http.listen") else { throw error(node, "http.listen", "missing; for example 127.0.0.1:9090") }
        guard let address = HostAndPort(text) else { throw error(http["listen"], "http.listen", "must be HOST:PORT, for example 127.0.0.1:9090") }
        let token = try string(http["admin_token"], "http.admin_token")
        if let token, token.count < 16 {
            throw error(http["admin_token"], "http.admin_token", "must be at least 16 characters (for example from `openssl rand -hex 16`)")
        }
        return .init(listen: address, adminToken: token, readinessChecks: try readinessChecks(http["readiness_checks"]))
    }

    private func readinessChecks(_ node: Node?) throws(ConfigurationError) -> Set<ProxyConfiguration.ReadinessCheck> {
        guard let node else { return [] }
        let path = "http.readiness_checks"
        let known = ProxyConfiguration.ReadinessCheck.allCases.map(\.rawValue).joined(separator: ", ")
        guard case .sequence(let items) = node else { throw error(node, path, "must be a list drawn from: \(known) (or [] for none)") }
        var checks: Set<ProxyConfiguration.ReadinessCheck> = []
        for (index, item) in items.enumerated() {
            let text = try string(item, "\(path)[\(index)]") ?? ""
            guard let check = ProxyConfiguration.ReadinessCheck(rawValue: text) else {
                throw error(item, "\(path)[\(index)]", "unknown check \(text.debugDescription); known: \(known) (bound listeners are always checked)")
            }
            checks.insert(check)
        }
        return checks
    }

    static let listenerKeys = [
        "name", "engine", "listen", "upstream", "iam_host", "iam_default_port", "iam_region", "iam_expiration", "tls", "client_tls",
        "users", "connect_timeout", "handshake_timeout", "idle_timeout", "max_connections", "unix_socket_mode", "allow_replication",
        "allow_remote", "auth", "secret", "session_reuse", "role",
    ] + topologyKeys

    func listener(_ node: Node, _ path: String, index: Int) throws(ConfigurationError) -> ListenerConfiguration {
        let keys = try mapping(node, path, known: Self.listenerKeys)
        let engineText = try string(keys["engine"], "\(path).engine") ?? ListenerConfiguration.Engine.postgres.rawValue
        guard let engine = ListenerConfiguration.Engine(rawValue: engineText) else {
            throw error(keys["engine"], "\(path).engine", "must be postgres or mysql (got \(engineText))")
        }
        guard let listenText = try string(keys["listen"], "\(path).listen") else { throw error(node, "\(path).listen", "missing; for example 127.0.0.1:\(engine.defaultPort)") }
        guard let upstreamText = try string(keys["upstream"], "\(path).upstream") else { throw error(node, "\(path).upstream", "missing; the database endpoint as HOST:PORT") }
        guard let upstream = HostAndPort(upstreamText, defaultPort: engine.defaultPort), upstream.port > 0 else {
            throw error(keys["upstream"], "\(path).upstream", "must be HOST:PORT of the database endpoint")
        }
        guard let listen = ListenerConfiguration.ListenAddress(listenText, engine: engine, upstreamPort: upstream.port) else {
            throw error(keys["listen"], "\(path).listen",
                        "must be HOST:PORT (for example 127.0.0.1:\(engine.defaultPort)) or unix:/absolute/path (a directory for postgres, the socket file for mysql)")
        }
        var listener = ListenerConfiguration(
            name: try string(keys["name"], "\(path).name") ?? "listener\(index)", engine: engine, listen: listen, upstream: upstream)
        if let modeText = try string(keys["unix_socket_mode"], "\(path).unix_socket_mode") {
            guard let mode = UInt16(modeText, radix: 8), mode <= 0o777 else {
                throw error(keys["unix_socket_mode"], "\(path).unix_socket_mode", "must be octal permissions such as \"0660\" (quote it in YAML)")
            }
            listener.unixSocketMode = mode
        }
        listener.iamHost = try string(keys["iam_host"], "\(path).iam_host")
        listener.iamDefaultPort = try integer(keys["iam_default_port"], "\(path).iam_default_port", range: 1...65_535)
        listener.iamRegion = try string(keys["iam_region"], "\(path).iam_region")
        // Keys left out keep ListenerConfiguration's defaults, stated there once.
        if let expiration = try integer(keys["iam_expiration"], "\(path).iam_expiration", range: 1...900) { listener.iamExpirationSeconds = expiration }
        if let timeout = try seconds(keys["connect_timeout"], "\(path).connect_timeout") { listener.connectTimeoutSeconds = timeout }
        if let timeout = try seconds(keys["handshake_timeout"], "\(path).handshake_timeout") { listener.handshakeTimeoutSeconds = timeout }
        listener.idleTimeoutSeconds = try seconds(keys["idle_timeout"], "\(path).idle_timeout")
        listener.maxConnections = try integer(keys["max_connections"], "\(path).max_connections", range: 1...1_000_000)
        if let allow = try boolean(keys["allow_replication"], "\(path).allow_replication") { listener.allowReplication = allow }
        if let allow = try boolean(keys["allow_remote"], "\(path).allow_remote") { listener.allowRemote = allow }
        if let roleText = try string(keys["role"], "\(path).role") {
            guard let role = ListenerConfiguration.Role(rawValue: roleText) else {
                throw error(keys["role"], "\(path).role", "must be writer or reader (got \(roleText))")
            }
            listener.role = role
        }
        if let problem = listener.remoteListenProblem { throw error(keys["listen"], "\(path).listen", problem) }
        if let tlsNode = keys["tls"] {
            let tls = try mapping(tlsNode, "\(path).tls", known: ["mode", "ca_file", "server_name"])
            if let modeText = try string(tls["mode"], "\(path).tls.mode") {
                guard let mode = ListenerConfiguration.UpstreamTLS.Mode(rawValue: modeText) else {
                    throw error(tls["mode"], "\(path).tls.mode", "must be verify-full, verify-ca or require (got \(modeText))")
                }
                listener.tls.mode = mode
            }
            listener.tls.caFile = try readableFile(tls["ca_file"], "\(path).tls.ca_file")
            listener.tls.serverName = try string(tls["server_name"], "\(path).tls.server_name")
            if listener.tls.mode == .verifyCA, listener.tls.caFile == nil {
                throw error(tls["mode"], "\(path).tls.mode",
                            "verify-ca needs tls.ca_file: it trusts only that CA, because without a name check the system roots would accept any public certificate")
            }
        }
        if let clientNode = keys["client_tls"] {
            let client = try mapping(clientNode, "\(path).client_tls", known: ["cert_file", "key_file"])
            guard let cert = try readableFile(client["cert_file"], "\(path).client_tls.cert_file"),
                let key = try readableFile(client["key_file"], "\(path).client_tls.key_file")
            else { throw error(clientNode, "\(path).client_tls", "needs both cert_file and key_file") }
            listener.clientTLS = .init(certFile: cert, keyFile: key)
        }
        if let usersNode = keys["users"] {
            guard case .sequence(let users) = usersNode else { throw error(usersNode, "\(path).users", "must be a list of database user names") }
            var names: [String] = []
            for (index, user) in users.enumerated() {
                guard let name = try string(user, "\(path).users[\(index)]") else { throw error(user, "\(path).users[\(index)]", "must be a user name") }
                names.append(name)
            }
            listener.users = names
        }
        try readAuth(keys, node, path, into: &listener)
        if let reuseNode = keys["session_reuse"] { listener.sessionReuse = try sessionReuse(reuseNode, "\(path).session_reuse", engine: engine) }
        listener.topology = try topology(keys, node, path, listener: listener)
        return listener
    }

    /// `auth` and `secret`: a Secrets Manager user must be named in `users`, so a (master)
    /// password cannot reach any local process that asks by accident.
    private func readAuth(_ keys: [String: Node], _ node: Node, _ path: String, into listener: inout ListenerConfiguration) throws(ConfigurationError) {
        let auth = try string(keys["auth"], "\(path).auth") ?? "iam"
        switch auth {
        case "iam":
            if keys["secret"] != nil { throw error(keys["secret"], "\(path).secret", "needs auth: secret (auth is iam)") }
        case "secret":
            guard let secretNode = keys["secret"] else { throw error(node, "\(path).secret", "missing; auth: secret needs secret.secret_id") }
            let secret = try mapping(secretNode, "\(path).secret", known: ["secret_id", "region", "version_stage", "cache_seconds", "endpoint"])
            guard let id = try string(secret["secret_id"], "\(path).secret.secret_id") else {
                throw error(secretNode, "\(path).secret.secret_id", "missing; the secret's ARN or name")
            }
            var settings = ListenerConfiguration.SecretSettings(secretID: id)
            settings.region = try string(secret["region"], "\(path).secret.region")
            if let stage = try string(secret["version_stage"], "\(path).secret.version_stage") { settings.versionStage = stage }
            if let seconds = try self.seconds(secret["cache_seconds"], "\(path).secret.cache_seconds") { settings.cacheSeconds = seconds }
            settings.endpoint = try string(secret["endpoint"], "\(path).secret.endpoint")
            guard listener.users?.isEmpty == false else {
                throw error(node, "\(path).users", "auth: secret needs users (the secret's user): its password must not reach any local process that asks")
            }
            listener.auth = .secret(settings)
        default:
            throw error(keys["auth"], "\(path).auth", "must be iam or secret (got \(auth))")
        }
    }

    func readableFile(_ node: Node?, _ path: String) throws(ConfigurationError) -> String? {
        guard let file = try string(node, path) else { return nil }
        guard FileManager.default.isReadableFile(atPath: file) else { throw error(node, path, "cannot read \(file)") }
        return file
    }

    /// `read`: the listeners that could be read, with their nodes and places in the file.
    func checkUnique(_ read: [(listener: ListenerConfiguration, node: Node, index: Int)]) throws(ConfigurationError) {
        for (position, entry) in read.enumerated() {
            let (listener, node, index) = entry
            for earlier in read[..<position].map(\.listener) {
                if earlier.name == listener.name {
                    throw error(node, "listeners[\(index)].name", "\(listener.name) is already the name of another listener")
                }
                if earlier.listen == listener.listen {
                    throw error(node, "listeners[\(index)].listen", "\(listener.listen) is already used by listener \(earlier.name)")
                }
            }
        }
    }
}
