import Foundation

/// A `credential_process` that hands out the temporary identity first and the long-term one
/// on every later call, as when credentials are rotated: a token signed after the proxy
/// re-reads its credentials differs from the cached one even within the same second.
enum RotatingCredentials {
    /// The environment that points the proxy's default chain at the rotating process.
    static func environment(_ env: TestEnvironment) throws -> [String: String] {
        let folder = NSTemporaryDirectory() + "rotating-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func document(_ identity: TestEnvironment.Identity) -> String {
            let token = identity.session_token.map { #","SessionToken":"\#($0)""# } ?? ""
            return #"{"Version":1,"AccessKeyId":"\#(identity.access_key_id)","SecretAccessKey":"\#(identity.secret_access_key)"\#(token)}"#
        }
        try document(env.temporary).write(toFile: folder + "/first.json", atomically: true, encoding: .utf8)
        try document(env.longTerm).write(toFile: folder + "/later.json", atomically: true, encoding: .utf8)
        let script = """
            #!/bin/sh
            if [ -e \(folder)/used ]; then cat \(folder)/later.json; else touch \(folder)/used; cat \(folder)/first.json; fi
            """
        try script.write(toFile: folder + "/rotate.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder + "/rotate.sh")
        try "[default]\ncredential_process = \(folder)/rotate.sh\n".write(toFile: folder + "/config", atomically: true, encoding: .utf8)
        return ["AWS_CONFIG_FILE": folder + "/config"]
    }
}
