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
  public static func render(_ d: Diagnostic, source: SourceFile?) -> String {
    var out = d.headline + "\n"
    if let span = d.span, let src = source, src.path == span.file, let text = src.line(span.start.line) {
      let num = String(span.start.line)
      let pad = String(repeating: " ", count: num.count)
      let chars = Array(text.unicodeScalars)
      let startCol = max(1, min(span.start.column, chars.count + 1))
      var width = 1
      if span.end.line == span.start.line && span.end.column > startCol {
        width = min(span.end.column, chars.count + 1) - startCol
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
    let sorted = ds.sorted
    var parts = sorted.map { render($0, source: source) }
    let e = ds.errors.count
    let w = ds.warnings.count
    if e > 0 {
      parts.append("\(e) error\(e == 1 ? "" : "s")\(w > 0 ? ", \(w) warning\(w == 1 ? "" : "s")" : "") found\n")
    }
    return parts.joined(separator: "\n")
  }
}
