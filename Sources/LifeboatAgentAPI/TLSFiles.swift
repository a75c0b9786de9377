import AsyncHTTPClient
import NIOSSL
import Synchronization

/// TLS for Lifeboat's own HTTP APIs (the monitor's and the agents'), from PEM files: a server
/// configuration for a process's API, and a client configuration for its calls to https:// URLs
/// (trusting only `caFile`, presenting its own certificate when it has one). Files are read when
/// the process starts; a missing or unreadable one is an error that names it.
public struct TLSFiles: Sendable, Equatable {
    public var certFile: String?
    public var keyFile: String?
    public var caFile: String?
    public var requireClientCertificates: Bool

    public init(certFile: String?, keyFile: String?, caFile: String?, requireClientCertificates: Bool) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.requireClientCertificates = requireClientCertificates
    }

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// For this process's API; nil when it has no certificate (plain HTTP).
    public func server() throws -> TLSConfiguration? {
        guard let certFile, let keyFile else { return nil }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try Self.certificates(certFile, "cert_file").map { .certificate($0) }, privateKey: .privateKey(try Self.key(keyFile)))
        configuration.minimumTLSVersion = .tlsv12
        if requireClientCertificates {
            guard let caFile else { throw Problem(description: "tls.client_certificates: require needs ca_file") }
            configuration.trustRoots = .certificates(try Self.certificates(caFile, "ca_file"))
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    /// For calls to https:// URLs: trusts `caFile` (the system's roots without it), presents this
    /// process's certificate.
    public func client() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile { configuration.trustRoots = .certificates(try Self.certificates(caFile, "ca_file")) }
        if let certFile, let keyFile {
            configuration.certificateChain = try Self.certificates(certFile, "cert_file").map { .certificate($0) }
            configuration.privateKey = .privateKey(try Self.key(keyFile))
        }
        return configuration
    }

    /// Whether a failed call failed in TLS (an untrusted or misnamed certificate, a refused client
    /// certificate, a handshake with a plain-HTTP server) rather than in reaching the host.
    public static func isTLSFailure(_ error: any Error) -> Bool {
        error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
    }

    static func certificates(_ path: String, _ field: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMFile(path) } catch {
            throw Problem(description: "tls.\(field): cannot read PEM certificates from \(path): \(error)")
        }
        guard !certificates.isEmpty else { throw Problem(description: "tls.\(field): \(path) holds no PEM certificate") }
        return certificates
    }

    static func key(_ path: String) throws -> NIOSSLPrivateKey {
        do { return try NIOSSLPrivateKey(file: path, format: .pem) } catch {
            throw Problem(description: "tls.key_file: cannot read a PEM private key from \(path): \(error)")
        }
    }
}

/// Pooled TLS clients live as long as the process, like `HTTPClient.shared`: AsyncHTTPClient traps
/// when a client is dropped without being shut down.
private let processClients = Mutex<[HTTPClient]>([])

extension HTTPClient {
    /// A pooled client for calls to https:// URLs with `tls` (nil: the shared client). It lives as
    /// long as the process unless the caller shuts it down.
    public static func lifeboat(tls: TLSConfiguration?) -> HTTPClient {
        guard let tls else { return .shared }
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        processClients.withLock { $0.append(client) }
        return client
    }
}
