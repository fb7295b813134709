import NIOCore

/// Says why a listening socket could not be opened in words and with the fix, rather than as
/// `bind(descriptor:ptr:bytes:) (errno: 98)`.
enum ListenFailure {
    static func describe(_ error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        switch io.errnoCode {
        case 98: return "the address is already in use (another process, or another listener, listens there; pick another port or stop it)"
        case 99: return "the address is not one of this host's (use 127.0.0.1, or an address of a local interface)"
        case 13: return "permission denied (ports below 1024 need privileges; use a higher port)"
        case 2: return "the directory does not exist (create it, or choose an existing directory for the socket)"
        default: return "\(io)"
        }
    }
}
