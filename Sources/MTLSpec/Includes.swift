import MTLDiagnostics
import MTLSupport
import MTLYAML

/// `SECTION: {include: FILE}` at the top level of a spec: the section's value is the whole YAML
/// document in FILE (its path relative to the file that names it). An included document may itself
/// be `{include: OTHER}`; a chain is followed up to `maxDepth` files, and a file that includes
/// itself, directly or not, is an error. Each file is read and parsed on its own, with the same
/// limits as a spec, so every node keeps the span of the file it came from and errors are located
/// there; YAML anchors work within a file. Runs after YAML reading and before `--set` flags and
/// decoding, which therefore see one tree. Docs: docs/spec.md ("Includes").
public enum SpecIncludes {
  /// Most files in one chain of includes (the spec not counted).
  public static let maxDepth = 8
  /// Most included files in one spec, over all sections.
  public static let maxFiles = 64

  public struct Result {
    public var root: YAMLNode
    /// Each included file's text, for rendering diagnostics located in it.
    public var sources: [SourceFile] = []
    public var diagnostics = Diagnostics()
  }

  /// Replaces every top-level `{include: FILE}` of `root` (the spec at `path`) by FILE's document.
  /// `load` reads a file's bytes (the caller resolves its working directory and limits).
  public static func resolve(_ root: YAMLNode, path: String, load: (String) throws -> [UInt8]) -> Result {
    var r = Result(root: root)
    guard case .mapping(var pairs) = root.kind else { return r }
    var files = 0
    for i in pairs.indices {
      guard let include = target(pairs[i].value, &r.diagnostics) else { continue }
      if let node = follow(include, from: path, chain: [path], files: &files, load: load, &r) {
        pairs[i].value = node
      }
    }
    r.root.kind = .mapping(pairs)
    return r
  }

  /// The `include` value of a section written `{include: FILE}`, or nil when it is not one.
  /// A mapping with an `include` key whose value is not a scalar (a task named `include`) is not one.
  static func target(_ node: YAMLNode, _ diags: inout Diagnostics) -> Located<String>? {
    guard case .mapping(let pairs) = node.kind,
      let p = pairs.first(where: { if case .scalar("include", _) = $0.key.kind { return true } else { return false } }),
      case .scalar = p.value.kind
    else { return nil }
    for other in pairs where other.key.span != p.key.span {
      diags.error(
        .conflictingKeys, "`include` takes the whole section; it cannot stand beside other keys", at: other.key.span,
        help: "move these keys into the included file, or write the section here without `include`")
      return nil
    }
    guard case .scalar(let file, _) = p.value.kind, !file.isEmpty else {
      diags.error(
        .wrongType, "expected a file path for `include`, found \(p.value.kindDescription)", at: p.value.span,
        help: "e.g. `features: {include: adult-features.yaml}`, relative to this file")
      return nil
    }
    return Located(file, p.value.span)
  }

  /// The document `include` names (following chains), or nil after reporting why not.
  static func follow(
    _ include: Located<String>, from including: String, chain: [String], files: inout Int,
    load: (String) throws -> [UInt8], _ r: inout Result
  ) -> YAMLNode? {
    let path = Paths.resolve(include.value, against: Paths.directory(of: including))
    if chain.contains(path) {
      r.diagnostics.error(
        .includeCycle, "include cycle: " + (chain + [path]).map { "`\($0)`" }.joined(separator: " includes "),
        at: include.span, help: "a file cannot include itself, directly or through others")
      return nil
    }
    guard chain.count <= maxDepth, files < maxFiles else {
      r.diagnostics.error(
        .includeTooDeep,
        chain.count > maxDepth
          ? "includes nested more than \(maxDepth) files deep" : "more than \(maxFiles) included files",
        at: include.span, help: "include the file that holds the section directly")
      return nil
    }
    files += 1
    let bytes: [UInt8]
    do {
      bytes = try load(path)
    } catch {
      r.diagnostics.error(
        .unreadableInclude, "cannot read included file `\(path)`: \(reason(error))", at: include.span,
        help: "paths are relative to the file that names them")
      return nil
    }
    let yaml = YAMLReader.read(bytes: bytes, path: path)
    if let s = yaml.source { r.sources.append(s) }
    r.diagnostics.add(contentsOf: yaml.diagnostics)
    guard let root = yaml.root else { return nil }
    if let next = target(root, &r.diagnostics) {
      return follow(next, from: path, chain: chain + [path], files: &files, load: load, &r)
    }
    return root
  }

  static func reason(_ e: Error) -> String {
    if let f = e as? FileError {
      return f.tooLarge ? "it is over the limit of \(YAMLLimits.default.maxBytes) bytes" : f.reason
    }
    return "\(e)"
  }
}
