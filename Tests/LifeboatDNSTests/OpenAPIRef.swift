/// Follows a local `$ref` such as `#/components/schemas/DomainRecord/properties/target` in a
/// published OpenAPI document loaded as plain dictionaries (the provider conformance tests).
enum OpenAPIRef {
    static func resolve(_ value: Any?, in doc: [String: Any]) -> [String: Any]? {
        guard var object = value as? [String: Any] else { return nil }
        while let ref = object["$ref"] as? String {
            var node: Any? = doc
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            guard let next = node as? [String: Any] else { return nil }
            object = next
        }
        return object
    }
}
