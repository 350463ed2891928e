import MTLDiagnostics
import MTLYAML

/// `--set KEY=VALUE` on the command line: any key of the spec, replaced (or added) in the YAML
/// tree before the spec is decoded, so a value given on the command line is checked exactly like
/// one in the file, and its errors point at the flag.
///
/// KEY is a dotted path from the top of the spec: `training.optimizer.learning_rate`,
/// `tasks.income.loss_weight`. In a sequence (`features`), a part names the entry whose `name`
/// it is (`features.age.normalize`) or, as a number, its position from 0. VALUE is YAML: `0.01`,
/// `[64, 32]`, `{type: sgd, learning_rate: 0.1}`, `"0"` for a string.
///
/// Each flag is a source of its own, named `--set` (its one line is the flag's text), so a
/// diagnostic on it renders as `--set:1:30: error[E0205]: ...` with the flag under the caret.
public enum SpecOverrides {
  public static let sourceName = "--set"

  public struct Result {
    public var root: YAMLNode
    /// The flags as one source, a flag a line, for rendering their diagnostics.
    public var sources: [SourceFile]
    public var diagnostics = Diagnostics()
  }

  public static func apply(_ sets: [String], to root: YAMLNode) -> Result {
    // Flags are told apart by line: flag k is line k + 1 of the `--set` source.
    var r = Result(
      root: root, sources: sets.isEmpty ? [] : [SourceFile(path: sourceName, text: sets.joined(separator: "\n"))])
    for (k, flag) in sets.enumerated() {
      let line = k + 1
      let file = sourceName
      func span(_ from: Int, _ to: Int) -> Span {
        Span(file: file, start: SourceLoc(line: line, column: from), end: SourceLoc(line: line, column: to))
      }
      guard let eq = flag.firstIndex(of: "=") else {
        r.diagnostics.error(
          .invalidValue, "`--set` needs KEY=VALUE, not `\(flag)`", at: span(1, flag.count + 1),
          help: "for example `--set training.optimizer.learning_rate=0.01`")
        continue
      }
      let key = String(flag[..<eq])
      let valueText = String(flag[flag.index(after: eq)...])
      let valueColumn = key.unicodeScalars.count + 2
      // The value, read as a YAML document of its own, its spans moved onto the flag.
      let parsed = YAMLReader.read(bytes: Array(valueText.utf8), path: file)
      for d in parsed.diagnostics.all {
        var d = d
        d.span = d.span.map { shift($0, line: line, by: valueColumn - 1) }
        r.diagnostics.add(d)
      }
      guard parsed.diagnostics.errors.isEmpty else { continue }
      let value =
        parsed.root.map { shift($0, line: line, by: valueColumn - 1) }
        ?? YAMLNode(kind: .scalar("", plain: true), span: span(valueColumn, valueColumn), nodeCount: 1)
      // The key's parts, each with its columns in the flag.
      var parts: [(String, Span)] = []
      var col = 1
      for p in key.split(separator: ".", omittingEmptySubsequences: false) {
        let n = p.unicodeScalars.count
        parts.append((String(p), span(col, col + n)))
        col += n + 1
      }
      if let bad = parts.first(where: { $0.0.isEmpty }) {
        r.diagnostics.error(
          .invalidValue, "`--set` key `\(key)` has an empty part", at: bad.1,
          help: "name the key with dots between its parts: `training.batch_size`")
        continue
      }
      if let e = set(&r.root, parts[...], value, path: "") { r.diagnostics.add(e) }
    }
    return r
  }

  /// Puts `value` at `parts` under `node`; the diagnostic when the path does not exist in a
  /// sequence or runs through a scalar.
  static func set(_ node: inout YAMLNode, _ parts: ArraySlice<(String, Span)>, _ value: YAMLNode, path: String)
    -> Diagnostic?
  {
    guard let (name, nameSpan) = parts.first else {
      node = value
      return nil
    }
    let here = path.isEmpty ? name : path + "." + name
    switch node.kind {
    case .mapping(var pairs):
      if let i = pairs.firstIndex(where: { $0.name == name }) {
        if let e = set(&pairs[i].value, parts.dropFirst(), value, path: here) { return e }
      } else {
        // A new key: the decoder checks it like any other (unknown keys get a did-you-mean).
        var v = YAMLNode(kind: .mapping([]), span: nameSpan, nodeCount: 1)
        if let e = set(&v, parts.dropFirst(), value, path: here) { return e }
        pairs.append(YAMLPair(key: YAMLNode(kind: .scalar(name, plain: true), span: nameSpan, nodeCount: 1), value: v))
      }
      node.kind = .mapping(pairs)
    case .sequence(var items):
      let names = items.map { item -> String? in
        guard case .mapping(let ps) = item.kind, let n = ps.first(where: { $0.name == "name" }),
          case .scalar(let s, _) = n.value.kind
        else { return nil }
        return s
      }
      guard let i = names.firstIndex(of: name) ?? Int(name).flatMap({ (0..<items.count).contains($0) ? $0 : nil })
      else {
        let known = names.compactMap { $0 }
        return Diagnostic(
          .unknownReference, "`\(path)` has no entry named `\(name)`", at: nameSpan,
          help: Suggest.closest(to: name, among: known).map { "did you mean `\($0)`?" }
            ?? (known.isEmpty
              ? "name an entry by its position, from 0 to \(items.count - 1)"
              : "its entries: " + known.prefix(20).map { "`\($0)`" }.joined(separator: ", ")))
      }
      if let e = set(&items[i], parts.dropFirst(), value, path: here) { return e }
      node.kind = .sequence(items)
    case .scalar:
      return Diagnostic(
        .wrongType, "`\(path)` is \(node.kindDescription), so it has no key `\(name)`", at: nameSpan,
        help: "set `\(path)` itself: `--set \(path)=...`")
    }
    node.nodeCount += value.nodeCount
    return nil
  }

  static func shift(_ s: Span, line: Int, by columns: Int) -> Span {
    Span(
      file: s.file, start: SourceLoc(line: line, column: s.start.column + columns),
      end: SourceLoc(line: line, column: s.end.column + columns))
  }

  static func shift(_ n: YAMLNode, line: Int, by columns: Int) -> YAMLNode {
    var n = n
    n.span = shift(n.span, line: line, by: columns)
    switch n.kind {
    case .scalar: break
    case .sequence(let items): n.kind = .sequence(items.map { shift($0, line: line, by: columns) })
    case .mapping(let pairs):
      n.kind = .mapping(
        pairs.map {
          YAMLPair(key: shift($0.key, line: line, by: columns), value: shift($0.value, line: line, by: columns))
        })
    }
    return n
  }
}
