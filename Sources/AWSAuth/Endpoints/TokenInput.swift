import Foundation

/// What a token may be signed for, by explicit rules: boto3 itself is loose here (it signs for
/// an empty host or user, and refuses `db:9999` or a bare `::1` only by accident of URL
/// parsing), and a token signed for a mistyped host fails later, at the server, less clearly.
public enum TokenInput {
    /// Why `host` cannot be signed for, or nil: a host name or an IP literal (IPv6 in
    /// brackets), without a port.
    public static func hostProblem(_ host: String) -> String? {
        if host.isEmpty { return "must not be empty" }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { return "an IPv6 address in brackets must end with ] and take no port (give --port)" }
            var address = in6_addr()
            guard inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &address) == 1 else { return "\(host) is not an IPv6 address" }
            return nil
        }
        var address = in6_addr()
        if inet_pton(AF_INET6, host, &address) == 1 { return "an IPv6 address goes in brackets: [\(host)]" }
        if let colon = host.lastIndex(of: ":"), Int(host[host.index(after: colon)...]) != nil {
            return "takes no port (give --port \(host[host.index(after: colon)...]) and --host \(host[..<colon]))"
        }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._"))
        if let bad = host.unicodeScalars.first(where: { !allowed.contains($0) || !$0.isASCII }) {
            return "\(host.debugDescription) is not a host name (it contains \(String(bad).debugDescription))"
        }
        if host.hasPrefix(".") || host.hasSuffix("..") || host.contains("..") { return "\(host) is not a host name (empty label)" }
        return nil
    }

    /// Why `user` cannot be signed for, or nil.
    public static func userProblem(_ user: String) -> String? {
        user.isEmpty ? "must not be empty (the database user the token is for)" : nil
    }
}
