import MTLDiagnostics

/// libyaml reports a block-structure mistake in its own words ("did not find expected key"),
/// often on the line after the real mistake. Nearly always it is indentation: two keys of one
/// mapping that do not start in the same column. This finds the pair of sibling keys whose
/// columns disagree and says so, with both lines.
enum IndentHint {
  struct Line {
    var number: Int
    var indent: Int
    var text: String
    /// The key the line starts with (`- ` items excluded), if any.
    var key: String?
  }

  static func lines(_ text: String) -> [Line] {
    var out: [Line] = []
    for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let s = raw.hasSuffix("\r") ? raw.dropLast() : raw
      let indent = s.prefix { $0 == " " }.count
      let body = s.dropFirst(indent)
      if body.isEmpty || body.hasPrefix("#") { continue }
      var key: String?
      if !body.hasPrefix("-"), let colon = body.firstIndex(of: ":") {
        let k = body[..<colon]
        if !k.isEmpty, !k.contains(where: { $0 == " " || $0 == "{" || $0 == "[" || $0 == "\"" || $0 == "'" }) {
          key = String(k)
        }
      }
      out.append(Line(number: i + 1, indent: indent, text: String(s), key: key))
    }
    return out
  }

  /// A better diagnostic for a block-structure error at `line`, or nil when this is not an
  /// indentation mistake it can explain.
  static func explain(_ d: Diagnostic, source: SourceFile) -> Diagnostic? {
    guard d.code == .yamlSyntax, let span = d.span,
      d.message.contains("block mapping") || d.message.contains("mapping values are not allowed")
        || d.message.contains("block collection")
    else { return nil }
    let all = lines(source.text)
    guard let at = all.firstIndex(where: { $0.number >= span.start.line }) else { return nil }
    let here = all[at]
    guard at > 0 else { return nil }
    let prev = all[at - 1]
    // The line above opens a mapping the line belongs to when it ends in `:`.
    let opens = prev.text.trimmingTrailingSpaces.hasSuffix(":")
    var (a, b) = (prev, here)
    if opens {
      guard here.indent <= prev.indent else { return nil }
      // `here` closes prev's block: compare it with prev's siblings above.
      guard let sibling = all[..<(at - 1)].last(where: { $0.indent <= prev.indent }) else { return nil }
      (a, b) = (sibling, prev)
      if sibling.indent == prev.indent { return nil }
    } else if here.indent == prev.indent {
      return nil
    } else if here.indent < prev.indent {
      // The line above went deeper without a key opening it: it is the misplaced one, unless
      // `here` matches no enclosing level.
      if let parent = all[..<(at - 1)].last(where: { $0.indent < prev.indent }), parent.indent == here.indent {
        (a, b) = (parent, prev)
        guard !parent.text.trimmingTrailingSpaces.hasSuffix(":") else {
          // prev is the first child of parent; then here (at parent's level) is fine and prev
          // must line up with the next child, which we cannot see. Name the two lines as found.
          return hint(d, misplaced: prev, sibling: here, source: source)
        }
      }
    }
    return hint(d, misplaced: b, sibling: a, source: source)
  }

  static func hint(_ d: Diagnostic, misplaced: Line, sibling: Line, source: SourceFile) -> Diagnostic {
    let name = misplaced.key.map { "`\($0)`" } ?? "line \(misplaced.number)"
    let other = sibling.key.map { "`\($0)`" } ?? "line \(sibling.number)"
    var out = Diagnostic(
      .yamlSyntax,
      "invalid YAML: \(name) is indented by \(misplaced.indent) spaces and \(other) on line \(sibling.number) by \(sibling.indent)",
      at: .point(source.path, line: misplaced.number, column: misplaced.indent + 1),
      label: "indentation does not match the key on line \(sibling.number)",
      help:
        "keys of one mapping start in the same column: indent \(name) like \(other), or nest it under a key that ends in `:`",
      notes: [
        "line \(sibling.number): \(sibling.text)", "line \(misplaced.number): \(misplaced.text)",
        "libyaml: \(d.message.dropFirst("invalid YAML: ".count))",
      ])
    out.severity = .error
    return out
  }
}

extension String {
  fileprivate var trimmingTrailingSpaces: Substring {
    var s = Substring(self)
    while s.last == " " { s = s.dropLast() }
    return s
  }
}
