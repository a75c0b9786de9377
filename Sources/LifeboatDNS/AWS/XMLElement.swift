import Foundation
import LifeboatCore
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML element read with Foundation's XMLParser: its local name, text and children. Enough for
/// the rest-xml answers of AWS APIs; namespaces are checked by the caller where they matter.
public struct XMLNode: Sendable, Equatable {
    public var name: String
    public var namespace: String?
    public var text: String
    public var children: [XMLNode]

    public init(name: String, namespace: String? = nil, text: String = "", children: [XMLNode] = []) {
        self.name = name
        self.namespace = namespace
        self.text = text
        self.children = children
    }

    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// The text of the first descendant along `path`.
    public func value(_ path: String...) -> String? {
        var node: XMLNode? = self
        for name in path { node = node?.child(name) }
        return node?.text
    }

    /// Parses a document; nil when it is not well-formed XML.
    public static func parse(_ data: Data) -> XMLNode? {
        let delegate = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        guard parser.parse(), let root = delegate.root else { return nil }
        return root
    }

    /// `&`, `<`, `>`, `"` and `'` escaped for element text.
    public static func escape(_ text: String) -> String { Markup.escape(text) }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLNode] = []
    var root: XMLNode?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
                attributes attributeDict: [String: String] = [:]) {
        stack.append(XMLNode(name: elementName, namespace: namespaceURI?.isEmpty == false ? namespaceURI : nil))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard var node = stack.popLast() else { return }
        if !node.children.isEmpty { node.text = node.text.trimmingCharacters(in: .whitespacesAndNewlines) }
        if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
    }
}
