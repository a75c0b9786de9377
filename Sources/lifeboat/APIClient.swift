import ArgumentParser
import AsyncHTTPClient
import Foundation
import LifeboatAgentAPI
import LifeboatHTTP
import NIOCore

/// Options shared by the commands that talk to a running monitor.
struct APIOptions: ParsableArguments {
    @Option(help: "The monitor's API (api.listen in its config).")
    var api: String = "http://127.0.0.1:8547"

    @Option(help: "A file holding the API token (else the LIFEBOAT_API_TOKEN environment variable).")
    var tokenFile: String?

    @Option(help: "For an https:// --api: the PEM CA certificate its certificate is checked against (tls.ca_file; else LIFEBOAT_CA_FILE, else the system's roots).")
    var caFile: String?

    @Option(help: "For a monitor with tls.client_certificates: require: this client's PEM certificate (with --key-file).")
    var certFile: String?

    @Option(help: "The PEM private key of --cert-file.")
    var keyFile: String?

    func validate() throws {
        if (certFile == nil) != (keyFile == nil) { throw ValidationError("--cert-file and --key-file go together") }
    }

    /// The client for the monitor's API: the shared one for http://, one with the CA and client
    /// certificate for https://.
    func client() throws -> HTTPClient {
        let ca = caFile ?? ProcessInfo.processInfo.environment["LIFEBOAT_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        guard api.lowercased().hasPrefix("https://") || ca != nil || certFile != nil else { return .shared }
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
        return ProcessInfo.processInfo.environment["LIFEBOAT_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Sends one request; returns the status and body, or exits with a clear message.
    func call(_ method: String, _ path: String, body: (any Encodable)? = nil, authenticated: Bool = false) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: api.hasSuffix("/") ? String(api.dropLast()) + path : api + path)
        request.method = .init(rawValue: method)
        if authenticated {
            guard let token = try token() else {
                printError("this command needs the API token: --token-file FILE or LIFEBOAT_API_TOKEN")
                throw ExitCode(2)
            }
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let http = try client()
        let answer: Result<(Int, ByteBuffer), any Error>
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
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
