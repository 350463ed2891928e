// `mtlc lsp`: a Language Server Protocol (3.17) server for spec files over standard input and
// output. On open and on every change it publishes the diagnostics `mtlc validate` gives (code,
// range, message; help and notes as related information); hover shows a key's row of
// docs/spec.md; completion offers the keys allowed where the cursor is, and the names a value may
// take there (references, task and tower names, the data's columns, fixed choices);
// go-to-definition jumps from a reference to the block it names. Malformed messages and unknown
// methods get JSON-RPC errors; the server never exits on bad input.

import Foundation
import MTLCompiler
import MTLData
import MTLDiagnostics
import MTLSpec
import MTLSupport

/// One thread serves at a time (the loop in `run`); handed to that thread whole.
public final class LanguageServer: @unchecked Sendable {
  let channel: JSONRPCChannel
  /// Open documents: URI → text.
  var documents: [String: String] = [:]
  /// URIs of other files that got diagnostics from a document (includes), per document.
  var published: [String: Set<String>] = [:]
  var initialized = false
  var shuttingDown = false
  /// Seconds the last diagnostics took (for tests and logs).
  public private(set) var lastDiagnosticSeconds = 0.0

  /// The largest message read: a spec is at most 1 MiB (the reader's limit), and JSON escaping at
  /// most doubles it, with room for the rest of the message.
  public static let maxMessageBytes = 8 << 20

  public init(input: Int32 = 0, output: Int32 = 1) {
    channel = JSONRPCChannel(input: input, output: output, maxBody: LanguageServer.maxMessageBytes)
  }

  /// Serves until `exit`: 0 after a `shutdown`, 1 without one (or when the stream ends).
  public func run() -> Int32 {
    while true {
      switch channel.next() {
      case .end: return 1
      case .malformed(let code, let message):
        channel.send(["id": NSNull(), "error": ["code": code, "message": message]])
      case .message(let m):
        if let status = handle(m) { return status }
      }
    }
  }

  /// Handles one message; an exit status when it was `exit`.
  func handle(_ m: [String: Any]) -> Int32? {
    let id = m["id"]
    guard let method = m["method"] as? String else {
      // A response to a request of ours (we send none), or garbage.
      if id != nil && (m["result"] != nil || m["error"] != nil) { return nil }
      channel.send(["id": id ?? NSNull(), "error": ["code": -32600, "message": "invalid request: no method"]])
      return nil
    }
    let params = m["params"] as? [String: Any] ?? [:]
    func reply(_ result: Any) { if let id { channel.send(["id": id, "result": result]) } }
    func fail(_ code: Int, _ message: String) {
      if let id { channel.send(["id": id, "error": ["code": code, "message": message]]) }
    }
    if method == "exit" { return shuttingDown ? 0 : 1 }
    if !initialized && method != "initialize" {
      if id != nil { fail(-32002, "the server is not initialized") }
      return nil
    }
    if shuttingDown && id != nil && method != "shutdown" {
      fail(-32600, "the server is shutting down")
      return nil
    }
    switch method {
    case "initialize":
      initialized = true
      reply([
        "capabilities": [
          "textDocumentSync": ["openClose": true, "change": 1],
          "hoverProvider": true,
          "completionProvider": ["triggerCharacters": [".", " ", "[", ",", "{"]],
          "definitionProvider": true,
        ],
        "serverInfo": ["name": "mtlc", "version": MTLVersion.string],
      ])
    case "initialized", "$/cancelRequest", "$/setTrace", "textDocument/didSave", "workspace/didChangeConfiguration":
      break
    case "shutdown":
      shuttingDown = true
      reply(NSNull())
    case "textDocument/didOpen":
      guard let doc = params["textDocument"] as? [String: Any], let uri = doc["uri"] as? String,
        let text = doc["text"] as? String
      else { return nil }
      documents[uri] = text
      publish(uri)
    case "textDocument/didChange":
      guard let uri = (params["textDocument"] as? [String: Any])?["uri"] as? String, var text = documents[uri],
        let changes = params["contentChanges"] as? [[String: Any]]
      else { return nil }
      for c in changes {
        guard let new = c["text"] as? String else { continue }
        if let range = c["range"] as? [String: Any], let r = textRange(range, in: text) {
          text.replaceSubrange(r, with: new)
        } else {
          text = new
        }
      }
      documents[uri] = text
      publish(uri)
    case "textDocument/didClose":
      guard let uri = (params["textDocument"] as? [String: Any])?["uri"] as? String else { return nil }
      documents[uri] = nil
      for other in published[uri] ?? [uri] { sendDiagnostics(other, []) }
      published[uri] = nil
    case "textDocument/hover", "textDocument/completion", "textDocument/definition":
      guard let uri = (params["textDocument"] as? [String: Any])?["uri"] as? String,
        let pos = params["position"] as? [String: Any], let line = pos["line"] as? Int,
        let character = pos["character"] as? Int
      else {
        fail(-32602, "invalid params: textDocument and position are required")
        return nil
      }
      guard let text = documents[uri] else {
        fail(-32602, "invalid params: \(uri) is not open")
        return nil
      }
      let t = SpecText(text)
      let col = t.column(line: line, utf16: character)
      let context = CursorContext(t, line: line, column: col)
      switch method {
      case "textDocument/hover": reply(hover(t, context, line: line) ?? NSNull())
      case "textDocument/completion": reply(["isIncomplete": false, "items": completions(t, context, uri: uri)])
      default: reply(definition(t, context, uri: uri) ?? NSNull())
      }
    default:
      if id != nil { fail(-32601, "method not found: \(method)") }
    }
    return nil
  }

  // MARK: Diagnostics

  /// The file path of a `file://` URI (percent-decoded), or the URI itself.
  static func path(of uri: String) -> String {
    guard uri.hasPrefix("file://") else { return uri }
    return String(uri.dropFirst(7)).removingPercentEncoding ?? String(uri.dropFirst(7))
  }

  static func uri(of path: String) -> String {
    "file://" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path)
  }

  /// Diagnostics of the document as `mtlc validate` gives them (the data files read too).
  func publish(_ uri: String) {
    guard let text = documents[uri] else { return }
    let start = Date()
    let path = LanguageServer.path(of: uri)
    var options = Compiler.Options()
    options.readData = true
    options.fitVocabularies = false
    let r = Compiler.frontEnd(bytes: Array(text.utf8), path: path, options: options)
    var byFile: [String: [[String: Any]]] = [LanguageServer.uri(of: path): []]
    for d in r.diagnostics.all {
      let file = d.span?.file ?? path
      let fileURI = file == path ? uri : LanguageServer.uri(of: file)
      byFile[fileURI, default: []].append(lspDiagnostic(d, uri: fileURI, text: file == path ? text : nil))
    }
    byFile[uri] = byFile[uri] ?? []
    if LanguageServer.uri(of: path) != uri { byFile[LanguageServer.uri(of: path)] = nil }
    for old in published[uri] ?? [] where byFile[old] == nil { sendDiagnostics(old, []) }
    for (u, list) in byFile { sendDiagnostics(u, list) }
    published[uri] = Set(byFile.keys)
    lastDiagnosticSeconds = Date().timeIntervalSince(start)
  }

  func sendDiagnostics(_ uri: String, _ list: [[String: Any]]) {
    channel.send([
      "method": "textDocument/publishDiagnostics", "params": ["uri": uri, "diagnostics": list],
    ])
  }

  func lspDiagnostic(_ d: Diagnostic, uri: String, text: String?) -> [String: Any] {
    let range = lspRange(d.span, text: text)
    var out: [String: Any] = [
      "range": range, "severity": d.severity == .error ? 1 : d.severity == .warning ? 2 : 3,
      "code": d.code.id, "source": "mtlc", "message": d.message,
    ]
    var related: [[String: Any]] = []
    if let help = d.help { related.append(["location": ["uri": uri, "range": range], "message": "help: \(help)"]) }
    for n in d.notes { related.append(["location": ["uri": uri, "range": range], "message": "note: \(n)"]) }
    if !related.isEmpty { out["relatedInformation"] = related }
    return out
  }

  /// An LSP range for a span (0-based lines, UTF-16 columns); the file's start when there is none.
  func lspRange(_ span: Span?, text: String?) -> [String: Any] {
    guard let span else {
      return ["start": ["line": 0, "character": 0], "end": ["line": 0, "character": 0]]
    }
    let t = text.map(SpecText.init)
    func pos(_ l: SourceLoc) -> [String: Any] {
      let line = max(0, l.line - 1)
      let ch = t.map { $0.utf16(line: line, column: l.column - 1) } ?? max(0, l.column - 1)
      return ["line": line, "character": ch]
    }
    var end = span.end
    if end == span.start { end.column += 1 }
    return ["start": pos(span.start), "end": pos(end)]
  }

  /// The String range of an LSP range in `text`.
  func textRange(_ range: [String: Any], in text: String) -> Range<String.Index>? {
    guard let s = range["start"] as? [String: Any], let e = range["end"] as? [String: Any],
      let sl = s["line"] as? Int, let sc = s["character"] as? Int, let el = e["line"] as? Int,
      let ec = e["character"] as? Int
    else { return nil }
    func index(_ line: Int, _ ch: Int) -> String.Index? {
      var i = text.utf16.startIndex
      var l = 0
      while l < line {
        guard let nl = text.utf16[i...].firstIndex(of: 10) else { return nil }
        i = text.utf16.index(after: nl)
        l += 1
      }
      return text.utf16.index(i, offsetBy: ch, limitedBy: text.utf16.endIndex)
    }
    guard let a = index(sl, sc), let b = index(el, ec), a <= b else { return nil }
    return a..<b
  }

  // MARK: Hover, completion, definition

  func hover(_ t: SpecText, _ c: CursorContext, line: Int) -> [String: Any]? {
    // A key under the cursor: the word before the `:` of its line or flow pair.
    guard !c.word.isEmpty else { return nil }
    let l = t.line(line)
    let after = l[c.wordRange.upperBound...].drop { $0 == " " }
    guard after.first == ":" else { return nil }
    let key = c.word
    var text: String? = nil
    if let (section, rest) = c.section {
      let dotted = (rest + [key]).joined(separator: ".")
      if let row = SpecDocs.rows.first(where: { $0.section == section && $0.key == dotted }) {
        text = "**`\(section).\(dotted)`** — \(row.type); default: \(row.defaultValue)\n\n\(row.meaning)"
      }
    } else if let row = SpecDocs.rows.first(where: { $0.section == key && $0.key == key }) {
      text = "**`\(key)`** — \(row.type); default: \(row.defaultValue)\n\n\(row.meaning)"
    } else if let intro = SpecDocs.sections[key], !intro.isEmpty {
      text = "**`\(key)`**\n\n\(intro)"
    }
    guard let text else { return nil }
    return [
      "contents": ["kind": "markdown", "value": text],
      "range": [
        "start": ["line": line, "character": t.utf16(line: line, column: c.wordRange.lowerBound)],
        "end": ["line": line, "character": t.utf16(line: line, column: c.wordRange.upperBound)],
      ],
    ]
  }

  func completions(_ t: SpecText, _ c: CursorContext, uri: String) -> [[String: Any]] {
    func item(_ label: String, kind: Int, detail: String? = nil, insert: String? = nil) -> [String: Any] {
      var i: [String: Any] = ["label": label, "kind": kind]
      if let detail { i["detail"] = detail }
      if let insert { i["insertText"] = insert }
      return i
    }
    if c.key != nil {
      // Keys of this mapping: 10 = Property.
      guard let (table, kind) = c.table else { return [] }
      return table.allowed.map { k in
        let row = c.section.flatMap { s in
          SpecDocs.rows.first { $0.section == s.name && $0.key == (s.rest + [k]).joined(separator: ".") }
        }
        return item(
          k, kind: 10,
          detail: row.map { "\($0.type); default \($0.defaultValue)" } ?? (kind == "top" ? "section" : nil),
          insert: k + ": ")
      }
    }
    guard let key = c.valueOf else { return [] }
    let section = c.section?.name
    let tasks = t.names(in: "tasks").map(\.name)
    switch key {
    case "input" where ["experts", "gates", "towers"].contains(section ?? ""):
      // 18 = Reference.
      return [item("features", kind: 18, detail: "the feature vector")]
        + t.names(in: "experts").map { item("experts.\($0.name)", kind: 18, detail: "expert group") }
        + t.names(in: "gates").map { item("gates.\($0.name)", kind: 18, detail: "gate") }
    case "experts" where section == "gates":
      return t.names(in: "experts").map { item($0.name, kind: 18, detail: "expert group") }
    case "from", "product":
      return tasks.map { item($0, kind: 18, detail: "task") }
    case "tower":
      return t.names(in: "towers").map { item($0.name, kind: 18, detail: "tower") }
    case "embedding":
      return t.featureNames().map { item($0, kind: 18, detail: "sparse feature") }
    case "column":
      return columns(t, uri: uri).map { item($0, kind: 12, detail: "column of the data") }
    case "name" where section == "features":
      return columns(t, uri: uri).map { item($0, kind: 12, detail: "column of the data") }
    case "monitor":
      let monitors =
        ["loss"] + tasks.flatMap { n in ["loss", "auc", "logloss", "mse", "mae", "accuracy"].map { "\(n).\($0)" } }
      return monitors.map { item($0, kind: 12) }
    default:
      let kind = c.table?.1 ?? "top"
      return (SpecSchema.choices(of: key, in: kind) ?? []).map { item($0, kind: 12) }
    }
  }

  /// The columns of the spec's train file, when its header can be read.
  func columns(_ t: SpecText, uri: String) -> [String] {
    guard let train = t.dataTrain(), !train.isEmpty else { return [] }
    let spec = LanguageServer.path(of: uri)
    let path = train.hasPrefix("/") ? train : (spec as NSString).deletingLastPathComponent + "/" + train
    return (try? RawTable.readHeader(path)) ?? []
  }

  func definition(_ t: SpecText, _ c: CursorContext, uri: String) -> [String: Any]? {
    let parts = c.word.split(separator: ".", maxSplits: 1).map(String.init)
    var section: String? = nil
    var name = c.word
    if parts.count == 2 && ["experts", "gates", "towers", "tasks"].contains(parts[0]) {
      (section, name) = (parts[0], parts[1])
    } else if let key = c.valueOf {
      switch key {
      case "experts" where c.section?.name == "gates": section = "experts"
      case "from", "product": section = "tasks"
      case "tower": section = "towers"
      default: break
      }
    }
    guard let section, let hit = t.names(in: section).first(where: { $0.name == name }) else { return nil }
    let start = t.utf16(line: hit.line, column: hit.column)
    return [
      "uri": uri,
      "range": [
        "start": ["line": hit.line, "character": start],
        "end": ["line": hit.line, "character": start + name.utf16.count],
      ],
    ]
  }
}
