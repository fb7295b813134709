import ArgumentParser
import IAMDBProxy

@main
struct IAMDBProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-db-proxy",
        abstract: "A local proxy that logs unmodified applications in to RDS / Aurora with IAM database authentication.",
        discussion: """
            Applications connect in plaintext to a loopback listener with no password; the proxy opens \
            TLS to the database and answers its password request with an IAM auth token signed from \
            the standard AWS credentials chain.
            """,
        version: ProxyVersion.string,
        subcommands: [RunCommand.self, CheckCommand.self, TokenCommand.self, HealthCommand.self, VersionCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("iam-db-proxy \(ProxyVersion.string)")
    }
}
