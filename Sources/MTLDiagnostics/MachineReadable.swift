// Diagnostics for tools: JSON (one object per file checked) and SARIF 2.1.0 (what code-scanning
// services annotate source lines from). Built from the same `Diagnostic` values the text renderer
// prints, so the three formats say the same thing. Hand-built JSON: no Foundation in this module.

/// One spec checked, with what was found in it (and in the files it included).
public struct CheckedFile: Sendable {
  public var path: String
  public var diagnostics: [Diagnostic]
  /// A one-line summary when it is valid, e.g. `valid (5 blocks, 2 tasks)`.
  public var summary: String?
  public init(path: String, diagnostics: [Diagnostic], summary: String?) {
    self.path = path
    self.diagnostics = diagnostics
    self.summary = summary
  }
}

public enum MachineReadable {
  /// `{"files": [{"path", "valid", "errors", "warnings", "diagnostics": [...]}], "valid": N, "invalid": M}`.
  /// `valid` is false when the file has errors (or warnings, with `warningsAsErrors`).
  public static func json(_ files: [CheckedFile], warningsAsErrors: Bool = false) -> String {
    var out = "{\n  \"files\": ["
    for (i, f) in files.enumerated() {
      let errors = f.diagnostics.filter { $0.severity == .error }.count
      let warnings = f.diagnostics.count - errors
      let ok = errors == 0 && (!warningsAsErrors || warnings == 0)
      out += i == 0 ? "\n" : ",\n"
      out += "    {\"path\": \(str(f.path)), \"valid\": \(ok), \"errors\": \(errors), \"warnings\": \(warnings),"
      out += " \"diagnostics\": [" + f.diagnostics.map(diagnostic).joined(separator: ", ") + "]}"
    }
    let valid = files.filter { f in
      let errors = f.diagnostics.filter { $0.severity == .error }.count
      return errors == 0 && (!warningsAsErrors || f.diagnostics.count == errors)
    }.count
    out += "\n  ],\n  \"valid\": \(valid),\n  \"invalid\": \(files.count - valid)\n}\n"
    return out
  }

  static func diagnostic(_ d: Diagnostic) -> String {
    var fields = [
      "\"code\": \(str(d.code.id))", "\"title\": \(str(d.code.title))", "\"severity\": \(str(d.severity.rawValue))",
      "\"message\": \(str(d.message))",
    ]
    if let s = d.span {
      fields.append(
        "\"location\": {\"file\": \(str(s.file)), \"line\": \(s.start.line), \"column\": \(s.start.column), \"endLine\": \(s.end.line), \"endColumn\": \(s.end.column)}"
      )
    }
    if let l = d.label { fields.append("\"label\": \(str(l))") }
    if let h = d.help { fields.append("\"help\": \(str(h))") }
    if !d.notes.isEmpty { fields.append("\"notes\": [" + d.notes.map(str).joined(separator: ", ") + "]") }
    return "{" + fields.joined(separator: ", ") + "}"
  }

  /// A SARIF 2.1.0 log with one run: the rules are the codes that occur (id, title; docs/spec.md's
  /// "Diagnostics" table explains each), each result a diagnostic with its level, message (help
  /// appended) and region.
  /// Paths are given as written (relative to where `mtlc validate` ran), as `uri`s.
  public static func sarif(_ files: [CheckedFile], version: String, warningsAsErrors: Bool = false) -> String {
    let all = files.flatMap(\.diagnostics)
    var codes: [DiagnosticCode] = []
    for d in all where !codes.contains(d.code) { codes.append(d.code) }
    let rules = codes.map { c in
      "{\"id\": \(str(c.id)), \"name\": \(str(c.title)), \"shortDescription\": {\"text\": \(str(c.title))}, \"help\": {\"text\": \"docs/spec.md, Diagnostics: \(c.id)\"}}"
    }
    let results = all.map { d -> String in
      let level = d.severity == .error || warningsAsErrors ? "error" : "warning"
      var text = d.message
      if let h = d.help { text += " (help: \(h))" }
      var r =
        "{\"ruleId\": \(str(d.code.id)), \"ruleIndex\": \(codes.firstIndex(of: d.code)!), \"level\": \"\(level)\", \"message\": {\"text\": \(str(text))}"
      if let s = d.span {
        let endColumn = s.end == s.start ? s.start.column + 1 : s.end.column
        r +=
          ", \"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": \(str(uri(s.file)))}, \"region\": {\"startLine\": \(s.start.line), \"startColumn\": \(s.start.column), \"endLine\": \(s.end.line), \"endColumn\": \(endColumn)}}}]"
      }
      return r + "}"
    }
    return """
      {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
          {
            "tool": {"driver": {"name": "mtlc", "version": \(str(version)), "rules": [\(rules.joined(separator: ", "))]}},
            "results": [\(results.joined(separator: ", "))]
          }
        ]
      }

      """
  }

  /// A relative path as a URI reference (spaces and the few reserved characters escaped).
  static func uri(_ path: String) -> String {
    var out = ""
    for c in path.unicodeScalars {
      switch c {
      case " ": out += "%20"
      case "#": out += "%23"
      case "?": out += "%3F"
      case "%": out += "%25"
      default: out.unicodeScalars.append(c)
      }
    }
    return out
  }

  /// A JSON string literal.
  static func str(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
      switch c {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if c.value < 0x20 {
          let hex = String(c.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(c)
        }
      }
    }
    return out + "\""
  }
}
