import CMallocStatistics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's own memory and descriptors, for `/metrics`. A proxy that anyone can connect
/// to must give back what each connection took; these let an operator (and the churn tests)
/// see that it does. Heap in use comes from glibc's `mallinfo2`, because resident memory
/// alone cannot tell a leak from freed pages that malloc keeps for reuse.
enum ProcessResources {
    /// Resident set size in bytes (`/proc/self/statm`), nil where there is no procfs.
    static var residentBytes: Int? {
        guard let statm = readSmallFile("/proc/self/statm") else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Bytes malloc has handed out and not yet had back (small blocks and mmapped ones).
    static var heapInUseBytes: Int? {
        let bytes = iam_db_proxy_heap_in_use_bytes()
        return bytes < 0 ? nil : Int(bytes)
    }

    /// Open file descriptors (`/proc/self/fd`), nil where there is no procfs.
    static var openDescriptors: Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        // ".", ".." and the descriptor opendir itself holds.
        return max(0, count - 3)
    }

    /// When the process started, in seconds since the epoch: `/proc/self/stat`'s start time
    /// (clock ticks after boot) plus the boot time from `/proc/stat`. Read once; nil without procfs.
    static let startTimeSeconds: Double? = {
        guard let stat = readSmallFile("/proc/self/stat", capacity: 1024), let end = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name start at field 3; the start time is field 22.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]), let system = readSmallFile("/proc/stat", capacity: 8192),
            let bootLine = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(bootLine.dropFirst(6))
        else { return nil }
        return boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }()

    private static func readSmallFile(_ path: String, capacity: Int = 256) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: capacity)
        let count = read(descriptor, &bytes, bytes.count)
        guard count > 0 else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self).trimmingTrailingNewline
    }
}

extension String {
    fileprivate var trimmingTrailingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
