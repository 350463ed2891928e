import CLibYAML
import MTLDiagnostics

/// Reads YAML text into a `YAMLNode` tree through libyaml's event API.
///
/// Before libyaml sees the text, the raw bytes are checked for the problems libyaml reports
/// poorly or not at all (size, UTF-8, NUL bytes, tabs in indentation). While building the tree,
/// the reader rejects duplicate keys, non-scalar keys, undefined aliases, foreign tags, a second
/// document, nesting past `maxDepth` and alias expansion past `maxNodes`.
public enum YAMLReader {
  public struct Result: Sendable {
    /// The document's root, or nil when reading failed.
    public var root: YAMLNode?
    public var diagnostics: Diagnostics
    /// The decoded text, for rendering (nil when the bytes were not valid UTF-8).
    public var source: SourceFile?
  }

  public static func read(bytes: [UInt8], path: String, limits: YAMLLimits = .default) -> Result {
    var diags = Diagnostics()
    if bytes.count > limits.maxBytes {
      diags.error(
        .tooLarge, "spec is \(bytes.count) bytes, over the limit of \(limits.maxBytes) bytes",
        at: .point(path, line: 1, column: 1))
      return Result(root: nil, diagnostics: diags, source: nil)
    }
    var body = bytes
    if body.starts(with: [0xEF, 0xBB, 0xBF]) { body.removeFirst(3) }
    let pre = ByteChecks.run(body, path: path)
    diags.add(contentsOf: pre.diagnostics)
    let source = pre.text.map { SourceFile(path: path, text: $0) }
    if diags.hasErrors { return Result(root: nil, diagnostics: diags, source: source) }
    if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D }) {
      diags.error(
        .emptySpec, "spec is empty", at: .point(path, line: 1, column: 1),
        help: "a spec starts with `mtlc: 1`; see docs/spec.md")
      return Result(root: nil, diagnostics: diags, source: source)
    }
    var builder = TreeBuilder(path: path, limits: limits)
    let root = builder.parse(body)
    for d in builder.diagnostics.all { diags.add(source.flatMap { IndentHint.explain(d, source: $0) } ?? d) }
    if root == nil && !diags.hasErrors {
      diags.error(
        .emptySpec, "spec has no content", at: .point(path, line: 1, column: 1),
        help: "a spec starts with `mtlc: 1`; see docs/spec.md")
    }
    return Result(root: diags.hasErrors ? nil : root, diagnostics: diags, source: source)
  }
}

/// Checks over raw bytes: UTF-8 validity, NUL bytes, tabs in indentation. Positions count
/// characters (Unicode scalars), 1-based, as libyaml's marks do (0-based) once shifted.
enum ByteChecks {
  static let maxReported = 20

  static func run(_ b: [UInt8], path: String) -> (diagnostics: Diagnostics, text: String?) {
    var diags = Diagnostics()
    var line = 1
    var col = 1
    var atIndent = true  // still in the leading whitespace of the line
    var i = 0
    var count = 0
    var validUTF8 = true
    while i < b.count {
      let c = b[i]
      var len = 1
      if c < 0x80 {
        if c == 0 {
          if count < maxReported {
            diags.error(
              .nulByte, "spec contains a NUL byte", at: .point(path, line: line, column: col),
              help: "a spec is text; remove the NUL byte")
          }
          count += 1
        } else if c == 0x09 && atIndent {
          if count < maxReported {
            diags.error(
              .tabIndent, "tab used for indentation", at: .point(path, line: line, column: col),
              label: "tab here", help: "YAML indents with spaces; replace the tab with spaces")
          }
          count += 1
        } else if c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09 {
          atIndent = false
        }
      } else {
        // Multi-byte sequence: validate per RFC 3629 (no overlongs, no surrogates, ≤ U+10FFFF).
        len = utf8Length(b, i)
        if len == 0 {
          validUTF8 = false
          if count < maxReported {
            diags.error(
              .notUTF8, "spec is not valid UTF-8 (byte 0x\(String(c, radix: 16, uppercase: true)))",
              at: .point(path, line: line, column: col), help: "save the file as UTF-8")
          }
          count += 1
          len = 1
          // The continuation bytes of a broken sequence belong to the same error.
          while i + len < b.count && b[i + len] & 0xC0 == 0x80 { len += 1 }
        }
        atIndent = false
      }
      if c == 0x0A {
        line += 1
        col = 1
        atIndent = true
      } else {
        col += 1
      }
      i += len
      if count >= maxReported { break }
    }
    let text: String? = validUTF8 ? String(decoding: b, as: UTF8.self) : nil
    return (diags, text)
  }

  /// Length of the valid UTF-8 sequence starting at `i`, or 0 if invalid.
  static func utf8Length(_ b: [UInt8], _ i: Int) -> Int {
    let c = b[i]
    func cont(_ k: Int) -> Bool { i + k < b.count && b[i + k] & 0xC0 == 0x80 }
    switch c {
    case 0xC2...0xDF: return cont(1) ? 2 : 0
    case 0xE0: return cont(1) && b[i + 1] >= 0xA0 && cont(2) ? 3 : 0
    case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
    case 0xED: return cont(1) && b[i + 1] < 0xA0 && cont(2) ? 3 : 0
    case 0xF0: return cont(1) && b[i + 1] >= 0x90 && cont(2) && cont(3) ? 4 : 0
    case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
    case 0xF4: return cont(1) && b[i + 1] < 0x90 && cont(2) && cont(3) ? 4 : 0
    default: return 0
    }
  }
}

/// Builds the node tree from libyaml events.
struct TreeBuilder {
  let path: String
  let limits: YAMLLimits
  var diagnostics = Diagnostics()
  /// Each anchor's node, and the scalar bytes in it (the text an alias to it copies).
  private var anchors: [String: (node: YAMLNode, bytes: Int)] = [:]
  private var totalNodes = 0
  private var totalBytes = 0

  /// An open sequence or mapping. Frames are mutated in place on the stack (`stack[top]`), so
  /// adding an item never copies the items before it (a popped enum payload would be copied).
  private struct Frame {
    var isSequence: Bool
    var start: SourceLoc
    var anchor: String?
    var items: [YAMLNode] = []
    var pairs: [YAMLPair] = []
    var pendingKey: YAMLNode?
    /// Key name -> index of its pair, for the duplicate check.
    var keyIndex: [String: Int] = [:]
    var count = 1
    var bytes = 0
  }
  private var stack: [Frame] = []

  init(path: String, limits: YAMLLimits) {
    self.path = path
    self.limits = limits
  }

  private func loc(_ m: yaml_mark_t) -> SourceLoc { SourceLoc(line: Int(m.line) + 1, column: Int(m.column) + 1) }
  private func span(_ a: yaml_mark_t, _ b: yaml_mark_t) -> Span { Span(file: path, start: loc(a), end: loc(b)) }

  private func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    guard let p else { return nil }
    return String(cString: p)
  }

  /// Parses the whole input. Returns the root, or nil on error (diagnostics say why).
  mutating func parse(_ bytes: [UInt8]) -> YAMLNode? {
    let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
    defer { parser.deallocate() }
    guard yaml_parser_initialize(parser) != 0 else {
      diagnostics.error(.yamlSyntax, "libyaml could not be initialised", at: nil)
      return nil
    }
    defer { yaml_parser_delete(parser) }
    return bytes.withUnsafeBufferPointer { buf -> YAMLNode? in
      yaml_parser_set_input_string(parser, buf.baseAddress, buf.count)
      yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
      var root: YAMLNode?
      var documents = 0
      var event = yaml_event_t()
      while true {
        guard yaml_parser_parse(parser, &event) != 0 else {
          reportParserError(parser.pointee)
          return nil
        }
        defer { yaml_event_delete(&event) }
        switch event.type {
        case YAML_STREAM_END_EVENT:
          return root
        case YAML_DOCUMENT_START_EVENT:
          documents += 1
          if documents > 1 {
            diagnostics.error(
              .multipleDocuments, "spec holds more than one YAML document",
              at: span(event.start_mark, event.end_mark), label: "second document starts here",
              help: "put one model in a file; remove the `---` and what follows")
            return nil
          }
        case YAML_SCALAR_EVENT:
          let s = event.data.scalar
          guard checkTag(s.tag, event) else { return nil }
          let text = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
          let tag = string(s.tag)
          let plain = tag.map(TreeBuilder.plainTags.contains) ?? (s.style == YAML_PLAIN_SCALAR_STYLE)
          let node = YAMLNode(
            kind: .scalar(text, plain: plain), span: span(event.start_mark, event.end_mark), nodeCount: 1)
          guard count(1, bytes: Int(s.length), event) else { return nil }
          if let a = string(s.anchor) { anchors[a] = (node, Int(s.length)) }
          if !add(node, bytes: Int(s.length), to: &root) { return nil }
        case YAML_ALIAS_EVENT:
          let name = string(event.data.alias.anchor) ?? ""
          guard let (anchored, bytes) = anchors[name] else {
            diagnostics.error(
              .unknownAlias, "alias `*\(name)` refers to no anchor", at: span(event.start_mark, event.end_mark),
              help: "define `&\(name)` before using `*\(name)`")
            return nil
          }
          guard count(anchored.nodeCount, bytes: bytes, event) else { return nil }
          var node = anchored
          node.span = span(event.start_mark, event.end_mark)
          if !add(node, bytes: bytes, to: &root) { return nil }
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
          let isSeq = event.type == YAML_SEQUENCE_START_EVENT
          let tag = isSeq ? event.data.sequence_start.tag : event.data.mapping_start.tag
          guard checkTag(tag, event) else { return nil }
          if stack.count >= limits.maxDepth {
            diagnostics.error(
              .tooDeep, "nesting is deeper than the limit of \(limits.maxDepth) levels",
              at: span(event.start_mark, event.end_mark), help: "a spec needs only a few levels of nesting")
            return nil
          }
          let anchor = string(isSeq ? event.data.sequence_start.anchor : event.data.mapping_start.anchor)
          stack.append(Frame(isSequence: isSeq, start: loc(event.start_mark), anchor: anchor))
          guard count(1, bytes: 0, event) else { return nil }
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
          guard let frame = stack.popLast() else { return nil }
          let node = YAMLNode(
            kind: frame.isSequence ? .sequence(frame.items) : .mapping(frame.pairs),
            span: Span(file: path, start: frame.start, end: loc(event.end_mark)), nodeCount: frame.count)
          if let anchor = frame.anchor { anchors[anchor] = (node, frame.bytes) }
          if !add(node, bytes: frame.bytes, to: &root) { return nil }
        default:
          break
        }
      }
    }
  }

  /// Counts nodes and scalar bytes against the alias budgets.
  private mutating func count(_ n: Int, bytes: Int, _ event: yaml_event_t) -> Bool {
    totalNodes += n
    totalBytes += bytes
    if totalBytes > limits.maxExpandedBytes {
      diagnostics.error(
        .aliasBudget, "document expands to more than \(limits.maxExpandedBytes) bytes of text",
        at: span(event.start_mark, event.end_mark), label: "limit passed here",
        help: "aliases (`*name`) copy what they refer to; use fewer or smaller ones")
      return false
    }
    if totalNodes > limits.maxNodes {
      diagnostics.error(
        .aliasBudget, "document expands to more than \(limits.maxNodes) nodes",
        at: span(event.start_mark, event.end_mark), label: "limit passed here",
        help: "aliases (`*name`) copy what they refer to; use fewer or smaller ones")
      return false
    }
    return true
  }

  /// The YAML core schema's tags; `int`, `float`, `bool` and `null` keep a scalar plain (typed).
  static let plainTags: Set<String> = ["int", "float", "bool", "null"].map { "tag:yaml.org,2002:" + $0 }.reduce(
    into: []) { $0.insert($1) }
  static let coreTags: Set<String> = plainTags.union(["str", "seq", "map"].map { "tag:yaml.org,2002:" + $0 })

  private mutating func checkTag(_ tag: UnsafeMutablePointer<yaml_char_t>?, _ event: yaml_event_t) -> Bool {
    guard let t = string(tag) else { return true }
    if TreeBuilder.coreTags.contains(t) { return true }
    diagnostics.error(
      .unsupportedTag, "tag `\(t)` is not supported", at: span(event.start_mark, event.end_mark),
      help: t.hasSuffix("include")
        ? "a section is taken from another file with `SECTION: {include: FILE}`, not a tag"
        : "remove the tag; a spec uses plain YAML values")
    return false
  }

  /// Adds a finished node (holding `bytes` of scalar text) to the innermost open container, in
  /// place, or makes it the root.
  private mutating func add(_ node: YAMLNode, bytes: Int, to root: inout YAMLNode?) -> Bool {
    guard !stack.isEmpty else {
      root = node
      return true
    }
    let top = stack.count - 1
    stack[top].count += node.nodeCount
    stack[top].bytes += bytes
    if stack[top].isSequence {
      stack[top].items.append(node)
    } else if let key = stack[top].pendingKey {
      stack[top].pairs.append(YAMLPair(key: key, value: node))
      stack[top].pendingKey = nil
    } else {
      guard case .scalar(let name, _) = node.kind else {
        diagnostics.error(
          .complexKey, "mapping key is \(node.kindDescription), not a name", at: node.span,
          help: "keys in a spec are plain names")
        return false
      }
      if let first = stack[top].keyIndex[name] {
        diagnostics.error(
          .duplicateKey, "duplicate key `\(name)`", at: node.span, label: "defined again here",
          help: "remove one of the two, or rename it",
          notes: ["`\(name)` was first defined at \(stack[top].pairs[first].key.span.location)"])
      } else {
        stack[top].keyIndex[name] = stack[top].pairs.count
      }
      stack[top].pendingKey = node
    }
    return true
  }

  private mutating func reportParserError(_ p: yaml_parser_t) {
    let problem = p.problem.map { String(cString: $0) } ?? "unknown error"
    var message = "invalid YAML: \(problem)"
    if let ctx = p.context.map({ String(cString: $0) }) { message += " (\(ctx))" }
    // For an unclosed quote or bracket, libyaml's context mark (where the construct began) is a
    // better place to point at than where it gave up, often the end of the file. For block
    // structure, the problem mark (the offending line) is.
    let ctx = p.context.map { String(cString: $0) } ?? ""
    let unclosed = ctx.contains("flow") || ctx.contains("quoted") || problem.contains("end of stream")
    let m = p.context != nil && unclosed ? p.context_mark : p.problem_mark
    diagnostics.error(
      .yamlSyntax, message, at: .point(path, line: Int(m.line) + 1, column: Int(m.column) + 1))
  }
}
