import Foundation

/// A fresh temporary folder per test, for AWS config files, token files and scripts.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "iam-db-proxy-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ contents: String, executable: Bool = false) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file) }
        return file
    }

    func read(_ name: String) -> String? {
        try? String(contentsOfFile: path + "/" + name, encoding: .utf8)
    }
}

/// A credentials JSON document as IMDS, ECS and credential_process return it.
func credentialDocument(key: String = "ASIAFETCHED", expiresIn: TimeInterval = 3600, extra: String = "") -> String {
    let expiration = Date().addingTimeInterval(expiresIn).formatted(.iso8601)
    return #"{\#(extra)"AccessKeyId":"\#(key)","SecretAccessKey":"secret","Token":"session","Expiration":"\#(expiration)"}"#
}

func stsAnswer(action: String, key: String) -> String {
    let expiration = Date().addingTimeInterval(3600).formatted(.iso8601)
    return """
        <\(action)Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><\(action)Result><Credentials>
        <AccessKeyId>\(key)</AccessKeyId><SecretAccessKey>s&amp;ecret</SecretAccessKey>
        <SessionToken>tok</SessionToken><Expiration>\(expiration)</Expiration></Credentials></\(action)Result></\(action)Response>
        """
}
