import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket file of a unix-socket listener: a stale one (left by a proxy that did not
/// exit cleanly) is replaced, a live one or any other file is never touched.
enum UnixSocketFile {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func prepare(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Problem(description: "directory \(directory) does not exist")
        }
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw Problem(description: "\(path) exists and is not a socket; remove it or choose another path")
        }
        if isAnswering(path) {
            throw Problem(description: "another process is listening on \(path)")
        }
        guard unlink(path) == 0 else {
            throw Problem(description: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func setMode(_ path: String, _ mode: UInt16) throws {
        guard chmod(path, mode_t(mode)) == 0 else {
            throw Problem(description: "cannot set permissions \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func remove(_ path: String) { unlink(path) }

    /// True when something accepts connections on the socket file.
    private static func isAnswering(_ path: String) -> Bool {
        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}
