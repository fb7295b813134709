#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Runs a credential helper in a process group of its own, so a timeout stops the helper *and*
/// whatever it started (`aws-vault` → `aws`, a shell → its children), and keeps what it wrote
/// to standard error (bounded) for the error message instead of the proxy's own stderr.
/// Spawned with an empty signal mask and default dispositions: a child inherits the mask of
/// the thread that spawns it, and Dispatch threads block signals.
enum HelperProcess {
    struct Outcome {
        var status: Int32
        var standardOutput: Data
        var standardError: Data
    }

    struct TimedOut: Error {}

    struct SpawnFailed: Error, CustomStringConvertible {
        let errorNumber: Int32
        var description: String { String(cString: strerror(errorNumber)) }
    }

    /// The most of standard error kept (the rest is counted, not stored).
    static let standardErrorLimit = 4096

    /// Blocking: call from a thread of its own.
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws -> Outcome {
        var output: [Int32] = [0, 0]
        var errors: [Int32] = [0, 0]
        guard pipe(&output) == 0, pipe(&errors) == 0 else { throw SpawnFailed(errorNumber: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        // Nothing else of the proxy's (client sockets, other helpers' pipes) reaches the helper.
        closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        var spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        // ETXTBSY: another thread's child briefly held the script open for writing when it
        // forked (the classic race of writing an executable and running it); it passes.
        for _ in 0..<20 where spawned == ETXTBSY {
            usleep(10_000)
            spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        close(output[1])
        close(errors[1])
        guard spawned == 0 else {
            close(output[0])
            close(errors[0])
            throw SpawnFailed(errorNumber: spawned)
        }

        // The deadline stops the whole group: SIGTERM, then SIGKILL for what ignores it.
        let finished = DispatchSemaphore(value: 0)
        let timedOut = Atomic(false)
        let group = pid
        DispatchQueue.global().async {
            guard finished.wait(timeout: .now() + timeout) == .timedOut else { return }
            timedOut.set()
            kill(-group, SIGTERM)
            if finished.wait(timeout: .now() + 1) == .timedOut { kill(-group, SIGKILL) }
        }
        let standardError = BoundedReader(descriptor: errors[0], limit: standardErrorLimit)
        let errorReader = Thread { standardError.readToEnd() }
        errorReader.start()
        let standardOutput = BoundedReader(descriptor: output[0], limit: 1 << 20)
        standardOutput.readToEnd()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        standardError.waitUntilDone()
        finished.signal()
        if timedOut.value { throw TimedOut() }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exitStatus, standardOutput: standardOutput.data, standardError: standardError.data)
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.34+'s `posix_spawn_file_actions_addclosefrom_np` (looked up at run time: Swift's
    /// Glibc module does not import it), else a close for each descriptor open now.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap(Int32.init) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }

    /// Standard error for a one-line message: at most `limit` bytes as text, control
    /// characters (terminal escapes, newlines) escaped.
    static func describe(standardError: Data) -> String {
        let text = String(decoding: standardError, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.unicodeScalars.map { scalar in
            scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined()
    }
}

/// Reads a descriptor to its end (closing it), keeping at most `limit` bytes.
private final class BoundedReader: @unchecked Sendable {
    private let descriptor: Int32
    private let limit: Int
    private let done = DispatchSemaphore(value: 0)
    private(set) var data = Data()

    init(descriptor: Int32, limit: Int) {
        self.descriptor = descriptor
        self.limit = limit
    }

    func readToEnd() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if data.count < limit { data.append(contentsOf: buffer[0..<min(count, limit - data.count)]) }
        }
        close(descriptor)
        done.signal()
    }

    func waitUntilDone() { done.wait() }
}

/// A flag set once, from any thread.
private final class Atomic: @unchecked Sendable {
    private let lock = NSLock()
    private var flag: Bool

    init(_ flag: Bool) { self.flag = flag }

    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}
