import NIOCore

/// An operating-system error said in words, with what it usually means here, instead of
/// `connection reset (error set): Connection refused (errno: 111)`.
enum SystemErrorWords {
    static func describe(_ error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        return words(errno: io.errnoCode) ?? "\(io)"
    }

    static func words(errno: CInt) -> String? {
        switch errno {
        case 111: "connection refused (nothing listens on that port, or a firewall rejects the connection)"
        case 113: "no route to the host (check the VPC routing, security group and network ACLs)"
        case 101: "the network is unreachable from here"
        case 110: "timed out"
        case 104: "the connection was reset by the other side"
        case 98: "the address is already in use (another process, or another listener, listens there; pick another port or stop it)"
        case 99: "the address is not one of this host's (use 127.0.0.1, or an address of a local interface)"
        case 13: "permission denied (ports below 1024 need privileges; use a higher port)"
        case 2: "the directory does not exist (create it, or choose an existing directory for the socket)"
        default: nil
        }
    }
}
