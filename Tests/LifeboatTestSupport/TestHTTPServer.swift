import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP request as a test server received it.
public struct RecordedRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: Data?
}

/// A small HTTP/1.1 server on a loopback port that answers with a closure: the base of the
/// local stand-ins for provider APIs and of the notification receivers.
public final class TestHTTPServer: Sendable {
    public typealias Respond = @Sendable (RecordedRequest) async -> (status: Int, headers: [(String, String)], body: Data)

    private let channel: any Channel
    public var port: Int { channel.localAddress?.port ?? 0 }

    public init(respond: @escaping Respond) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(TestHTTPHandler(respond: respond))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    public func stop() async { try? await channel.close() }
}

/// Lets a server's closure reach an object created after the server.
final class ResponderBox: Sendable {
    private let storage = Mutex<TestHTTPServer.Respond?>(nil)
    var responder: TestHTTPServer.Respond? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }

    func respond(_ request: RecordedRequest) async -> (status: Int, headers: [(String, String)], body: Data) {
        guard let responder else { return (503, [], Data()) }
        return await responder(request)
    }
}

final class TestHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: TestHTTPServer.Respond
    private var head: HTTPRequestHead?
    private var body = Data()

    init(respond: @escaping TestHTTPServer.Respond) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = Data()
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            guard let head else { return }
            let components = URLComponents(string: "http://x" + head.uri)
            var query: [String: String] = [:]
            for item in components?.queryItems ?? [] { query[item.name] = item.value }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = RecordedRequest(method: head.method.rawValue, path: components?.path ?? head.uri, query: query,
                                          headers: headers, body: body.isEmpty ? nil : body)
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            let keepAlive = head.isKeepAlive
            let respond = self.respond
            Task {
                let (status, extra, data) = await respond(request)
                loop.execute {
                    let context = bound.value
                    var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(data.count))])
                    for (name, value) in extra { headers.add(name: name, value: value) }
                    if !keepAlive { headers.add(name: "Connection", value: "close") }
                    let responseHead = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
                    context.write(self.wrapOutboundOut(.head(responseHead)), promise: nil)
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: data)))), promise: nil)
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                    if !keepAlive { context.close(promise: nil) }
                }
            }
        }
    }
}
