import ArgumentParser
import AsyncHTTPClient
import Foundation
import LifeboatAgentAPI
import LifeboatConfig
import LifeboatHTTP
import NIOCore

/// Options shared by the commands that talk to a running monitor. Where the monitor is, its
/// token and its CA come from the flags, else the environment, else the monitor's config file
/// (`--config`, `LIFEBOAT_CONFIG`, or `/etc/lifeboat/lifeboat.yml` when it can be read), so on a
/// monitor's host `lifeboat status` needs no flag at all.
struct APIOptions: ParsableArguments {
    @Option(help: "The monitor's API URL (else LIFEBOAT_API, else http(s)://api.listen of the config file, else http://127.0.0.1:8547).")
    var api: String?

    @Option(name: .customLong("config"),
            help: "The monitor's config file to take the API address, token and CA from (else LIFEBOAT_CONFIG, else /etc/lifeboat/lifeboat.yml when readable).")
    var configFile: String?

    @Option(help: "A file holding the API token (else LIFEBOAT_API_TOKEN, else api.token_* of the config file).")
    var tokenFile: String?

    @Option(help: "For an https:// API: the PEM CA certificate its certificate is checked against (else LIFEBOAT_CA_FILE, else tls.ca_file of the config file, else the system's roots).")
    var caFile: String?

    @Option(help: "For a monitor with tls.client_certificates: require: this client's PEM certificate (with --key-file).")
    var certFile: String?

    @Option(help: "The PEM private key of --cert-file.")
    var keyFile: String?

    static let defaultConfig = "/etc/lifeboat/lifeboat.yml"
    static let defaultAPI = "http://127.0.0.1:8547"

    func validate() throws {
        if (certFile == nil) != (keyFile == nil) { throw ValidationError("--cert-file and --key-file go together") }
        if let api, URL(string: api).flatMap({ ["http", "https"].contains($0.scheme?.lowercased() ?? "") && $0.host != nil }) != true {
            throw ValidationError("--api: expected the monitor's URL such as http://127.0.0.1:8547, found '\(api)'")
        }
    }

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }

    /// The monitor's config, when one is named or the default one can be read; a named file that
    /// cannot be used is an error naming it.
    func monitorConfig() throws -> LifeboatConfiguration? {
        let named = configFile ?? env("LIFEBOAT_CONFIG")
        // Given the address, the default file is not read (it may belong to another monitor).
        if named == nil, api != nil || env("LIFEBOAT_API") != nil { return nil }
        let path = named ?? Self.defaultConfig
        if named == nil, !FileManager.default.isReadableFile(atPath: path) { return nil }
        do {
            return try ConfigLoader.load(path: path, environment: environment)
        } catch {
            printError("\(error)")
            if named == nil { printError("(\(path) was read because --api was not given; pass --api, or --config to name another file)") }
            throw ExitCode(2)
        }
    }

    /// The API's base URL: --api, LIFEBOAT_API, the config's api.listen (https with tls.cert_file;
    /// a wildcard listen address is called on 127.0.0.1), or the default.
    func baseURL() throws -> String {
        if let api { return api }
        if let api = env("LIFEBOAT_API") { return api }
        guard let config = try monitorConfig() else { return Self.defaultAPI }
        return Self.url(listen: config.api.listen, tls: config.tls?.certFile != nil)
    }

    static func url(listen: HostPort, tls: Bool) -> String {
        let host = ["0.0.0.0", ""].contains(listen.host) ? "127.0.0.1" : listen.host
        return "\(tls ? "https" : "http")://\(host):\(listen.port)"
    }

    /// The client for the monitor's API: the shared one for http://, one with the CA and client
    /// certificate for https://.
    func client(for url: String) throws -> HTTPClient {
        var ca = caFile ?? env("LIFEBOAT_CA_FILE")
        if ca == nil, url.lowercased().hasPrefix("https://") { ca = try monitorConfig()?.tls?.caFile }
        guard url.lowercased().hasPrefix("https://") || ca != nil || certFile != nil else { return .shared }
        do {
            let tls = try TLSFiles(certFile: certFile, keyFile: keyFile, caFile: ca, requireClientCertificates: false).client()
            return HTTPClient.lifeboat(tls: tls)
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
    }

    func token() throws -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("cannot read the token file \(tokenFile)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let token = env("LIFEBOAT_API_TOKEN") { return token }
        guard let source = try monitorConfig()?.api.token else { return nil }
        do {
            return try source.resolve(environment: environment).reveal()
        } catch {
            printError("the config's api token: \(error)")
            return nil
        }
    }

    /// Sends one request; returns the status and body, or exits with a clear message.
    func call(_ method: String, _ path: String, body: (any Encodable)? = nil, authenticated: Bool = false,
              timeout: Duration = .seconds(10)) async throws -> (Int, Data) {
        let api = try baseURL()
        var request = HTTPClientRequest(url: api.hasSuffix("/") ? String(api.dropLast()) + path : api + path)
        request.method = .init(rawValue: method)
        if authenticated {
            guard let token = try token() else {
                printError("this command needs the API token: --token-file FILE, LIFEBOAT_API_TOKEN, or the monitor's config (--config) with api.token_file")
                throw ExitCode(2)
            }
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let http = try client(for: api)
        let answer: Result<(Int, ByteBuffer), any Error>
        do {
            let response = try await http.execute(request, timeout: .seconds(timeout.components.seconds))
            answer = .success((Int(response.status.code), try await response.body.collect(upTo: 8 << 20)))
        } catch {
            answer = .failure(error)
        }
        if http !== HTTPClient.shared { try? await http.shutdown() }
        do {
            let (status, bytes) = try answer.get()
            if status == 401 {
                printError("the monitor refused the API token (401): check --token-file / LIFEBOAT_API_TOKEN against api.token_file")
                throw ExitCode(1)
            }
            return (status, Data(bytes.readableBytesView))
        } catch let exit as ExitCode {
            throw exit
        } catch where TLSFiles.isTLSFailure(error) {
            printError("cannot talk TLS with the monitor at \(api): \(error). Is its certificate signed by the CA given with --ca-file (or LIFEBOAT_CA_FILE), does it name the host of --api, and does the monitor require a client certificate (--cert-file/--key-file)?")
            throw ExitCode(1)
        } catch {
            printError("cannot reach the monitor at \(api): \(error). Is `lifeboat monitor` running, and is --api right (https:// when the monitor has tls.cert_file)?")
            throw ExitCode(1)
        }
    }

    /// POSTs an operator command and prints the monitor's message.
    func operatorCommand(_ path: String, by: String) async throws {
        let (status, data) = try await call("POST", path, body: OperatorRequest(by: by), authenticated: true)
        print(try decode(MessageView.self, data).message)
        if status >= 300 { throw ExitCode(1) }
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            printError("the monitor's answer was not understood: \(error)")
            throw ExitCode(1)
        }
    }
}
