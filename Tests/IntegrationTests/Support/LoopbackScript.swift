import Foundation
import TestSupport

/// A testenv Python server (fake Secrets Manager, scripted MySQL) run for one test: started
/// through the launcher that clears the signal mask a test thread would pass on (so terminate()
/// stops it), ready once it prints its port, stopped when released.
final class LoopbackScript {
    static let testenv = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("testenv")

    private let process = Process()
    let port: Int

    init(_ script: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: signalResettingLauncher[0])
        process.arguments = Array(signalResettingLauncher.dropFirst())
            + ["/usr/bin/env", "python3", Self.testenv.appendingPathComponent(script).path] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw HarnessError(description: "\(script) did not start") }
            line += chunk
        }
        port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }

    /// The JSON lines a script appends to `file`, one dictionary each.
    static func jsonLines(_ file: String) -> [[String: Any]] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
    }

    static func temporaryFolder(_ prefix: String) throws -> String {
        let folder = NSTemporaryDirectory() + prefix + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }
}

/// testenv/fake_secrets_manager.py with a file of secrets it rereads on every request.
final class FakeSecretsManager {
    let secretsFile: String
    let script: LoopbackScript
    var port: Int { script.port }

    init(secrets: [String: Any]) throws {
        let folder = try LoopbackScript.temporaryFolder("fake-sm-")
        secretsFile = folder + "/secrets.json"
        try Self.write(secrets, to: secretsFile)
        script = try LoopbackScript("fake_secrets_manager.py", [LoopbackScript.testenv.appendingPathComponent("credentials.json").path,
                                                               secretsFile, folder + "/port"])
    }

    static func write(_ secrets: [String: Any], to file: String) throws {
        try JSONSerialization.data(withJSONObject: secrets).write(to: URL(fileURLWithPath: file), options: .atomic)
    }

    func rotate(_ secrets: [String: Any]) throws { try Self.write(secrets, to: secretsFile) }

    /// The outcomes of the requests so far (`ok`, or the AWS error it answered).
    var outcomes: [String] { LoopbackScript.jsonLines(secretsFile + ".log").compactMap { $0["outcome"] as? String } }
    /// The stages asked for so far.
    var stages: [String] { LoopbackScript.jsonLines(secretsFile + ".log").compactMap { $0["stage"] as? String } }

    /// The YAML of an `auth: secret` listener for `user` and the harness environment pointing at this service.
    func listener(user: String, secretID: String = "app/db") -> (yaml: String, environment: [String: String]) {
        ("auth: secret\nusers: [\(user)]\nsecret: {secret_id: \"\(secretID)\", region: us-east-1, cache_seconds: 300}",
         ["AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:\(port)"])
    }
}
