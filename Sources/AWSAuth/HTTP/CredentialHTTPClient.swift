import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The small HTTP client the credential providers use (IMDS, container endpoint, STS, SSO).
/// Answers are read up to a bounded size; failures become one-line reasons for error messages.
public struct CredentialHTTPClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    let client: HTTPClient
    static let maxBodyBytes = 1 << 20

    public init(client: HTTPClient = .shared) { self.client = client }

    public func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil,
        timeout: TimeAmount
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: Self.maxBodyBytes)
            return Response(status: Int(response.status.code), body: String(buffer: bytes))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout {
            throw CredentialHTTPError(reason: "timed out after \(timeout.milliseconds) ms")
        } catch {
            throw CredentialHTTPError(reason: Self.describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "HTTP client error \(error)" }
        return String(describing: error)
    }
}

extension TimeAmount {
    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}

public struct CredentialHTTPError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { reason }
}
