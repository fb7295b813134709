/// The version `iam-db-proxy version` prints and the proxy logs at start.
public enum ProxyVersion {
    public static let string = "0.1.0"
}
