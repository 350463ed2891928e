import MTLDiagnostics

/// A YAML node with the span it came from. Aliases are expanded (within a budget).
public struct YAMLNode: Sendable {
  public indirect enum Kind: Sendable {
    /// The scalar text; `plain` is false for quoted and block scalars (so `"1"` stays a string).
    case scalar(String, plain: Bool)
    case sequence([YAMLNode])
    case mapping([YAMLPair])
  }
  public var kind: Kind
  public var span: Span
  /// Nodes in this subtree, itself included (the alias budget counts these).
  public var nodeCount: Int

  public init(kind: Kind, span: Span, nodeCount: Int) {
    self.kind = kind
    self.span = span
    self.nodeCount = nodeCount
  }

  /// "a string", "a sequence", ... for "expected X, found Y" messages.
  public var kindDescription: String {
    switch kind {
    case .scalar(let s, let plain):
      if plain {
        if s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL" { return "null" }
        if Int(s) != nil { return "an integer `\(s)`" }
        if Double(s) != nil { return "a number `\(s)`" }
        if ["true", "false", "True", "False", "TRUE", "FALSE"].contains(s) { return "a boolean `\(s)`" }
      }
      let shown = s.count > 40 ? String(s.prefix(37)) + "..." : s
      return "a string `\(shown)`"
    case .sequence: return "a sequence"
    case .mapping: return "a mapping"
    }
  }
}

public struct YAMLPair: Sendable {
  public var key: YAMLNode
  public var value: YAMLNode
  public init(key: YAMLNode, value: YAMLNode) {
    self.key = key
    self.value = value
  }
  /// The key's text (keys are always scalars: the reader rejects others).
  public var name: String {
    if case .scalar(let s, _) = key.kind { return s }
    return ""
  }
}

/// Hard limits that keep reading bounded in time and memory whatever the input.
public struct YAMLLimits: Sendable {
  /// Largest file accepted, in bytes.
  public var maxBytes: Int = 1 << 20
  /// Deepest nesting of sequences and mappings.
  public var maxDepth: Int = 64
  /// Most nodes the document may hold once aliases are expanded (stops alias bombs).
  public var maxNodes: Int = 100_000
  /// Most scalar text, in bytes, the document may hold once aliases are expanded (stops an alias
  /// bomb made of a few copies of a long string rather than many nodes).
  public var maxExpandedBytes: Int = 4 << 20
  public init() {}
  public static let `default` = YAMLLimits()
}
