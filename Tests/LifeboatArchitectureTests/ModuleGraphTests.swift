import Foundation
import Testing

/// The layering of DESIGN.md, enforced: which of our modules each module may depend on, that
/// every declared dependency is imported (and every import declared), and the arrows that must
/// never exist.
@Suite struct ModuleGraphTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Our modules and the ones each may use. Anything not listed here is refused.
    static let allowed: [String: Set<String>] = [
        "LifeboatCore": [],
        "LifeboatPorts": ["LifeboatCore"],
        "LifeboatConfig": ["LifeboatCore"],
        "LifeboatEngine": ["LifeboatCore", "LifeboatPorts"],
        "LifeboatPostgres": ["LifeboatCore", "LifeboatPorts", "LifeboatConfig"],
        "LifeboatDNS": ["LifeboatCore", "LifeboatPorts", "LifeboatConfig"],
        "LifeboatStore": ["LifeboatCore", "LifeboatPorts"],
        "LifeboatEtcd": ["LifeboatCore", "LifeboatPorts"],
        "LifeboatNotify": ["LifeboatCore", "LifeboatPorts"],
        "LifeboatProbes": [],
        "LifeboatHTTP": ["LifeboatCore"],
        "LifeboatAgentAPI": ["LifeboatCore", "LifeboatPorts", "LifeboatProbes"],
        "LifeboatAgent": ["LifeboatCore", "LifeboatPorts", "LifeboatConfig", "LifeboatPostgres", "LifeboatProbes", "LifeboatAgentAPI", "LifeboatHTTP", "CMariaDB"],
        "LifeboatMonitor": ["LifeboatCore", "LifeboatPorts", "LifeboatConfig", "LifeboatEngine", "LifeboatPostgres", "LifeboatDNS", "LifeboatStore",
                            "LifeboatNotify", "LifeboatProbes", "LifeboatHTTP", "LifeboatAgentAPI", "LifeboatEtcd"],
        "LifeboatSandbox": ["LifeboatCore", "LifeboatPorts", "LifeboatConfig", "LifeboatPostgres", "LifeboatEngine", "LifeboatDNS", "LifeboatAgent",
                            "LifeboatAgentAPI", "LifeboatMonitor", "LifeboatEtcd", "LifeboatHTTP"],
        "lifeboat": ["LifeboatCore", "LifeboatConfig", "LifeboatEngine", "LifeboatSandbox", "LifeboatDNS", "LifeboatHTTP",
                     "LifeboatAgent", "LifeboatMonitor", "LifeboatAgentAPI"],
    ]

    /// Arrows DESIGN.md forbids, checked on their own so a future edit of `allowed` cannot slip them in.
    static let forbidden: [(from: Set<String>, to: String)] = [
        (["LifeboatPostgres", "LifeboatDNS", "LifeboatStore", "LifeboatEtcd", "LifeboatNotify", "LifeboatAgentAPI", "LifeboatProbes"], "LifeboatEngine"),
        (["LifeboatAgent"], "LifeboatEngine"),
        (["LifeboatEngine", "LifeboatMonitor", "LifeboatSandbox"], "lifeboat"),
        (["LifeboatPorts"], "LifeboatEngine"),
    ]

    static func imports(of module: String, path: String? = nil) throws -> Set<String> {
        let dir = root.appendingPathComponent(path ?? "Sources/\(module)")
        guard let files = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        var found: Set<String> = []
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                      words[..<index].allSatisfy({ $0.hasPrefix("@") || ["public", "package", "internal", "private"].contains($0) })
                else { continue }
                found.insert(words[index + 1])
            }
        }
        return found
    }

    typealias Graph = [String: (targets: Set<String>, products: Set<String>, path: String?)]

    /// Every module's declared dependencies, from `swift package dump-package`, run on a Dispatch
    /// thread (waiting for a child must not hold one of the few threads all the suite's tasks share).
    static func declared() async throws -> Graph {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try dumpPackage() }) }
        }
    }

    static func dumpPackage() throws -> Graph {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A scratch path of its own: `swift test` holds the lock on .build while the tests run.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lifeboat-dump-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        process.arguments = ["swift", "package", "--package-path", root.path, "--scratch-path", scratch, "dump-package"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        var result: [String: (Set<String>, Set<String>, String?)] = [:]
        for target in json["targets"] as? [[String: Any]] ?? [] {
            guard let name = target["name"] as? String, target["type"] as? String != "test" else { continue }
            var targets: Set<String> = [], products: Set<String> = []
            for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
                if let byName = dependency["byName"] as? [Any], let dep = byName.first as? String { targets.insert(dep) }
                if let target = dependency["target"] as? [Any], let dep = target.first as? String { targets.insert(dep) }
                if let product = dependency["product"] as? [Any], let dep = product.first as? String { products.insert(dep) }
            }
            result[name] = (targets, products, target["path"] as? String)
        }
        return result
    }

    @Test func everyModuleUsesOnlyTheLayersBelowIt() throws {
        for (module, allowedModules) in Self.allowed {
            let ours = try Self.imports(of: module).filter { Self.allowed[$0] != nil || $0 == "CMariaDB" }
            let extra = ours.subtracting(allowedModules)
            #expect(extra.isEmpty, "\(module) imports \(extra.sorted()), which the layering does not allow")
        }
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)
            .filter { !$0.hasPrefix(".") && $0 != "CMariaDB" }
        #expect(Set(onDisk) == Set(Self.allowed.keys), "a module was added or removed: place it in the layering here")
    }

    @Test func theForbiddenArrowsDoNotExist() async throws {
        let graph = try await Self.declared()
        for (from, to) in Self.forbidden {
            for module in from {
                #expect(!(graph[module]?.targets.contains(to) ?? false), "\(module) declares a dependency on \(to)")
                #expect(!(try Self.imports(of: module).contains(to)), "\(module) imports \(to)")
            }
        }
        #expect(graph["LifeboatCore"]?.targets.isEmpty == true && graph["LifeboatCore"]?.products.isEmpty == true, "the core depends on nothing")
        #expect(graph["LifeboatPorts"]?.targets == ["LifeboatCore"] && graph["LifeboatPorts"]?.products.isEmpty == true,
                "the ports depend on the core alone")
    }

    /// A declared dependency that no file imports is a lie about the graph (and build time).
    @Test func everyDeclaredDependencyIsImportedAndEveryImportDeclared() async throws {
        let graph = try await Self.declared()
        for (module, deps) in graph {
            let imports = try Self.imports(of: module, path: deps.path)
            for target in deps.targets {
                #expect(imports.contains(target), "\(module) declares \(target) but never imports it")
            }
            for product in deps.products {
                #expect(imports.contains(product), "\(module) declares the product \(product) but never imports it")
            }
            for imported in imports where Self.allowed[imported] != nil || imported == "CMariaDB" {
                #expect(deps.targets.contains(imported), "\(module) imports \(imported) without declaring it")
            }
        }
    }
}
