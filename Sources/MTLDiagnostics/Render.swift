/// Renders diagnostics in the one format mtlc prints:
///
///     specs/mmoe.yaml:23:16: error[E0301]: unknown expert group `shraed` in gate `income`
///        |
///     23 |     experts: [shraed]
///        |               ^^^^^^ not defined under `experts:`
///        |
///     help: a group with a similar name exists: `shared`
///
/// The first line is what editors and CI parse.
public enum DiagnosticRenderer {
  /// Most diagnostics `render(_: Diagnostics, ...)` shows; the rest are counted. Bounds the output
  /// (and the time) for hostile input with an error per node.
  public static let maxShown = 100
  /// Longest source line shown under a diagnostic, in characters; longer lines are clipped to a
  /// window around the caret.
  public static let maxLineShown = 160

  public static func render(_ d: Diagnostic, source: SourceFile?) -> String {
    var out = d.headline + "\n"
    if let span = d.span, let src = source, src.path == span.file, let text = src.line(span.start.line) {
      let num = String(span.start.line)
      let pad = String(repeating: " ", count: num.count)
      var chars: [Unicode.Scalar]
      var startCol = span.start.column
      var endCol = span.end.line == span.start.line ? span.end.column : Int.max
      let u = text.unicodeScalars
      if text.utf8.count <= maxLineShown
        || u.index(u.startIndex, offsetBy: maxLineShown, limitedBy: u.endIndex).map({ $0 == u.endIndex }) ?? true
      {
        chars = Array(u)
      } else {
        // A long line: show a window that starts a little before the caret, `…` where it is cut
        // (so each diagnostic costs at most a walk to its column, however long the line).
        let from = max(0, startCol - 1 - 20)
        let lo = u.index(u.startIndex, offsetBy: from, limitedBy: u.endIndex) ?? u.endIndex
        let hi = u.index(lo, offsetBy: maxLineShown, limitedBy: u.endIndex) ?? u.endIndex
        chars = (from > 0 ? ["\u{2026}"] : []) + Array(u[lo..<hi]) + (hi < u.endIndex ? ["\u{2026}"] : [])
        let shift = from > 0 ? from - 1 : 0
        startCol -= shift
        if endCol != Int.max { endCol -= shift }
      }
      startCol = max(1, min(startCol, chars.count + 1))
      var width = 1
      if span.end.line == span.start.line && endCol > startCol {
        width = min(endCol, chars.count + 1) - startCol
      } else if span.end.line > span.start.line {
        width = max(1, chars.count + 1 - startCol)
      }
      width = max(1, width)
      // Keep tabs as tabs under the caret so it lines up in a terminal.
      var lead = ""
      for i in 0..<(startCol - 1) where i < chars.count {
        lead.append(chars[i] == "\t" ? "\t" : " ")
      }
      let shown = String(String.UnicodeScalarView(chars.map { $0 == "\0" ? "\u{2400}" : $0 }))
      out += "\(pad) |\n"
      out += "\(num) | \(shown)\n"
      out += "\(pad) | \(lead)\(String(repeating: "^", count: width))"
      if let label = d.label { out += " \(label)" }
      out += "\n"
      if d.help != nil || !d.notes.isEmpty { out += "\(pad) |\n" }
    }
    for n in d.notes { out += "note: \(n)\n" }
    if let help = d.help { out += "help: \(help)\n" }
    return out
  }

  /// All diagnostics, sorted by position, separated by blank lines, with a closing count.
  public static func render(_ ds: Diagnostics, source: SourceFile?) -> String {
    render(ds, sources: source.map { [$0] } ?? [])
  }

  /// Each diagnostic with the source its span is in (the spec, or the `--set` flags).
  public static func render(_ ds: Diagnostics, sources: [SourceFile]) -> String {
    let sorted = ds.sorted
    var parts = sorted.prefix(maxShown).map { d in
      render(d, source: sources.first { $0.path == d.span?.file } ?? sources.first)
    }
    if sorted.count > maxShown { parts.append("... \(sorted.count - maxShown) more not shown\n") }
    let e = ds.errors.count
    let w = ds.warnings.count
    if e > 0 {
      parts.append("\(e) error\(e == 1 ? "" : "s")\(w > 0 ? ", \(w) warning\(w == 1 ? "" : "s")" : "") found\n")
    }
    return parts.joined(separator: "\n")
  }
}
