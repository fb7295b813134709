import AWSAuth
import ArgumentParser
import Foundation

/// A drop-in for `aws rds generate-db-auth-token` (and DSQL's `generate-db-connect-auth-token`).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print an IAM auth token for an RDS / Aurora database (or Aurora DSQL with --dsql)."
    )

    @Option(name: [.long, .customLong("hostname")], help: "The database endpoint the token is for (the real RDS host name).")
    var host: String

    @Option(name: .long, help: "The database port (required for RDS; unused for DSQL).")
    var port: Int?

    @Option(name: [.long, .customLong("username")], help: "The database user (required for RDS; DSQL default admin, which selects DbConnectAdmin).")
    var user: String?

    @Option(name: .long, help: "The AWS region; default: from the host name, else AWS_REGION or the profile.")
    var region: String?

    @Option(name: .long, help: "A profile from the shared AWS files; skips the environment credentials.")
    var profile: String?

    @Flag(name: .long, help: "Make an Aurora DSQL token instead of an RDS one.")
    var dsql = false

    @Option(name: .long, help: "Token lifetime in seconds (DSQL only; RDS tokens last 900 s).")
    var expiresIn: Int = DSQLAuthToken.defaultLifetime

    func validate() throws {
        if !dsql && port == nil { throw ValidationError("--port is required for an RDS token") }
        // As the AWS CLI: an RDS token for a user nobody named would be signed for the wrong one.
        if !dsql && user == nil { throw ValidationError("--user (or --username) is required for an RDS token") }
        if let port, !(1...65_535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
        if let problem = TokenInput.hostProblem(host) { throw ValidationError("--host \(problem)") }
        // `--user ""` and `--user=` alike.
        if let user, let problem = TokenInput.userProblem(user) { throw ValidationError("--user \(problem)") }
    }

    func run() async throws {
        let environment = AWSEnvironment.process
        do {
            let fallbackRegion = try environment.region
                ?? SharedConfigFiles.load(environment: environment)
                .profile(ProfileSelection(explicit: profile, environment: environment).name)?["region"]
            let resolvedRegion = try RegionResolution.region(explicit: region, host: host, fallback: fallbackRegion)
            if region == nil, let fallbackRegion, fallbackRegion != resolvedRegion {
                // Deliberately not botocore's choice (which would sign for the default region and be refused); said once.
                FileHandle.standardError.write(Data(
                    "iam-db-proxy token: signing for \(resolvedRegion), the region in \(host), not \(fallbackRegion) (from the environment or profile); --region overrides\n".utf8))
            }
            let credentials = try await DefaultCredentialChain.make(profile: profile, environment: environment).credentials()
            if dsql {
                print(DSQLAuthToken.make(
                    host: host, region: resolvedRegion, action: .init(user: user ?? "admin"), credentials: credentials,
                    date: Date(), expires: expiresIn))
            } else {
                let request = RDSTokenRequest(host: host, port: port ?? 5432, user: user ?? "", region: resolvedRegion)
                print(RDSAuthToken.make(for: request, credentials: credentials, date: Date()))
            }
        } catch let error as RegionResolution.Unresolved {
            throw CommandFailure("iam-db-proxy token: \(error.description.replacingOccurrences(of: "iam_region (or --region, or AWS_REGION)", with: "--region"))")
        } catch {
            throw CommandFailure("iam-db-proxy token: \(error)")
        }
    }
}

/// Ends the command with one line on standard error and exit code 1 (ArgumentParser would
/// otherwise add its own prefix and usage text to what is an operational error).
func CommandFailure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode.failure
}
