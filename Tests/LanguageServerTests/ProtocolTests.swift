// The language server alone, over pipes: framing, errors, diagnostics, hover, completion and
// definition, and the hover table against docs/spec.md.

import Foundation
import Testing

@testable import MTLLanguageServer

#if canImport(Glibc)
  import Glibc
#endif

let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// A server on a thread of its own, talked to through two pipes.
final class Client: @unchecked Sendable {
  let toServer: Int32
  let fromServer: Int32
  let done = DispatchSemaphore(value: 0)
  var status: Int32 = -1
  var buffer: [UInt8] = []
  var nextID = 1

  init() {
    var a: [Int32] = [0, 0]
    var b: [Int32] = [0, 0]
    pipe(&a)
    pipe(&b)
    toServer = a[1]
    fromServer = b[0]
    let server = LanguageServer(input: a[0], output: b[1])
    let (inFD, outFD) = (a[0], b[1])
    Thread {
      self.status = server.run()
      close(inFD)
      close(outFD)
      self.done.signal()
    }.start()
  }

  deinit {
    close(toServer)
    close(fromServer)
  }

  func sendRaw(_ bytes: [UInt8]) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { write(toServer, $0.baseAddress! + done, bytes.count - done) }
      if n <= 0 { return }
      done += n
    }
  }

  func send(_ object: [String: Any]) {
    var o = object
    o["jsonrpc"] = "2.0"
    let body = try! JSONSerialization.data(withJSONObject: o)
    sendRaw(Array("Content-Length: \(body.count)\r\n\r\n".utf8) + Array(body))
  }

  @discardableResult
  func request(_ method: String, _ params: [String: Any] = [:]) -> Int {
    let id = nextID
    nextID += 1
    send(["id": id, "method": method, "params": params])
    return id
  }

  func notify(_ method: String, _ params: [String: Any] = [:]) { send(["method": method, "params": params]) }

  /// The next message from the server (within 20 s), or nil.
  func receive() -> [String: Any]? {
    let deadline = Date().addingTimeInterval(20)
    while true {
      if let end = find(), let length = contentLength(end) {
        if buffer.count >= end + 4 + length {
          let body = Data(buffer[(end + 4)..<(end + 4 + length)])
          buffer.removeSubrange(0..<(end + 4 + length))
          return try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        }
      }
      guard Date() < deadline else { return nil }
      var fds = pollfd(fd: fromServer, events: Int16(POLLIN), revents: 0)
      guard poll(&fds, 1, 1000) > 0 else { continue }
      var chunk = [UInt8](repeating: 0, count: 65536)
      let n = chunk.withUnsafeMutableBytes { read(fromServer, $0.baseAddress!, $0.count) }
      if n <= 0 { return nil }
      buffer += chunk[0..<n]
    }
  }

  func find() -> Int? {
    guard buffer.count >= 4 else { return nil }
    for i in 0...(buffer.count - 4)
    where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
      return i
    }
    return nil
  }

  func contentLength(_ end: Int) -> Int? {
    let header = String(decoding: buffer[0..<end], as: UTF8.self)
    return header.split(separator: "\r\n").compactMap { line -> Int? in
      let p = line.split(separator: ":", maxSplits: 1)
      return p.count == 2 && p[0].lowercased() == "content-length"
        ? Int(p[1].trimmingCharacters(in: .whitespaces)) : nil
    }.first
  }

  /// Messages until one satisfies `match` (notifications before it are dropped).
  func wait(_ match: ([String: Any]) -> Bool) -> [String: Any]? {
    while let m = receive() { if match(m) { return m } }
    return nil
  }

  func response(_ id: Int) -> [String: Any]? { wait { ($0["id"] as? Int) == id } }

  func diagnostics(_ uri: String) -> [[String: Any]]? {
    wait {
      ($0["method"] as? String) == "textDocument/publishDiagnostics"
        && (($0["params"] as? [String: Any])?["uri"] as? String) == uri
    }
    .flatMap { ($0["params"] as? [String: Any])?["diagnostics"] as? [[String: Any]] }
  }

  func start() {
    let id = request("initialize", ["processId": NSNull(), "rootUri": NSNull(), "capabilities": [:]])
    _ = response(id)
    notify("initialized")
  }

  func stop() -> Int32 {
    _ = response(request("shutdown"))
    notify("exit")
    done.wait()
    return status
  }
}

/// A copy of specs/NAME.yaml in a temporary folder with its data and include paths absolute; its URI and text.
func spec(_ name: String, _ edit: (String) -> String = { $0 }) throws -> (uri: String, text: String) {
  var text = try String(contentsOf: repo.appendingPathComponent("specs/\(name).yaml"), encoding: .utf8)
  text = text.replacingOccurrences(of: "../data/adult.csv", with: repo.appendingPathComponent("data/adult.csv").path)
    .replacingOccurrences(
      of: "{include: common/", with: "{include: \(repo.appendingPathComponent("specs").path)/common/")
  text = edit(text)
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-lsp-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  let url = dir.appendingPathComponent("\(name).yaml")
  try text.write(to: url, atomically: true, encoding: .utf8)
  return ("file://" + url.path, text)
}

/// The (line, character) of the first `needle` in `text`, plus `offset` characters.
func position(_ text: String, _ needle: String, offset: Int = 0) -> [String: Int] {
  let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
  for (i, l) in lines.enumerated() {
    if let r = l.range(of: needle) {
      return ["line": i, "character": l.distance(from: l.startIndex, to: r.lowerBound) + offset]
    }
  }
  return ["line": 0, "character": 0]
}

@Suite(.serialized) struct ProtocolTests {
  @Test func aTypoIsPublishedWithItsCodeRangeAndHelp() throws {
    let (uri, text) = try spec("mmoe") { $0.replacingOccurrences(of: "input: features", with: "input: featurs") }
    let c = Client()
    c.start()
    c.notify("textDocument/didOpen", ["textDocument": ["uri": uri, "languageId": "yaml", "version": 1, "text": text]])
    let d = try #require(c.diagnostics(uri))
    let e = try #require(d.first { ($0["code"] as? String) == "E0301" }, "\(d)")
    #expect((e["message"] as? String)?.contains("`featurs`") == true)
    #expect(e["severity"] as? Int == 1 && e["source"] as? String == "mtlc")
    let start = (e["range"] as? [String: Any])?["start"] as? [String: Int]
    #expect(start == position(text, "featurs"))
    let related = e["relatedInformation"] as? [[String: Any]] ?? []
    #expect(related.contains { ($0["message"] as? String)?.hasPrefix("help: ") == true }, "\(e)")

    // The fix, as a full-text change: the diagnostics clear.
    let fixed = text.replacingOccurrences(of: "featurs", with: "features")
    c.notify(
      "textDocument/didChange", ["textDocument": ["uri": uri, "version": 2], "contentChanges": [["text": fixed]]])
    #expect(c.diagnostics(uri)?.isEmpty == true)
    // An incremental change (a range) is applied too.
    let p = position(fixed, "features", offset: 0)
    c.notify(
      "textDocument/didChange",
      [
        "textDocument": ["uri": uri, "version": 3],
        "contentChanges": [
          [
            "range": ["start": p, "end": ["line": p["line"]!, "character": p["character"]! + 8]], "text": "gates.nope",
          ]
        ],
      ])
    let again = try #require(c.diagnostics(uri))
    #expect(again.contains { ($0["message"] as? String)?.contains("gates.nope") == true }, "\(again)")
    #expect(c.stop() == 0)
  }

  @Test func hoverCompletionAndDefinition() throws {
    let (uri, text) = try spec("ple")
    let c = Client()
    c.start()
    c.notify("textDocument/didOpen", ["textDocument": ["uri": uri, "languageId": "yaml", "version": 1, "text": text]])
    _ = c.diagnostics(uri)
    let doc = ["uri": uri]

    // Hover on `units` in an expert group: its row of docs/spec.md.
    let h = c.response(
      c.request("textDocument/hover", ["textDocument": doc, "position": position(text, "units: [64, 64]", offset: 1)]))
    let value = ((h?["result"] as? [String: Any])?["contents"] as? [String: Any])?["value"] as? String
    #expect(
      value?.hasPrefix("**`experts.units`** — non-empty list of integers 1–65536; default: required") == true,
      "\(h ?? [:])")

    // Completion of an expert group's keys inside its flow mapping, after `{`.
    let keys = c.response(
      c.request("textDocument/completion", ["textDocument": doc, "position": position(text, "{count: 8", offset: 1)]))
    let labels = ((keys?["result"] as? [String: Any])?["items"] as? [[String: Any]])?.compactMap {
      $0["label"] as? String
    }
    #expect(labels == ["count", "input", "units", "activation", "dropout", "batch_norm"], "\(labels ?? [])")

    // Completion of an `input:` value: the references the spec defines.
    let refs = c.response(
      c.request(
        "textDocument/completion",
        ["textDocument": doc, "position": position(text, "input: gates.income_1", offset: 7)]))
    let refLabels =
      ((refs?["result"] as? [String: Any])?["items"] as? [[String: Any]])?.compactMap { $0["label"] as? String } ?? []
    #expect(
      refLabels.first == "features" && refLabels.contains("gates.income_1") && refLabels.contains("experts.shared_2"))

    // Definition: `gates.income_1` in an input jumps to the gate.
    let def = c.response(
      c.request(
        "textDocument/definition",
        ["textDocument": doc, "position": position(text, "input: gates.income_1", offset: 10)]))
    let range = (def?["result"] as? [String: Any])?["range"] as? [String: Any]
    let gateLine = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("gates:") }!
    let target = (range?["start"] as? [String: Int])?["line"] ?? -1
    #expect(target > gateLine, "\(def ?? [:])")
    #expect(text.split(separator: "\n", omittingEmptySubsequences: false)[target].contains("income_1:"))
    #expect(c.stop() == 0)
  }

  @Test func columnsAreOfferedForAColumnValue() throws {
    let (uri, text) = try spec("mmoe")
    let c = Client()
    c.start()
    c.notify("textDocument/didOpen", ["textDocument": ["uri": uri, "languageId": "yaml", "version": 1, "text": text]])
    _ = c.diagnostics(uri)
    let p = position(text, "column: income-per-year", offset: 8)
    let r = c.response(c.request("textDocument/completion", ["textDocument": ["uri": uri], "position": p]))
    let labels =
      ((r?["result"] as? [String: Any])?["items"] as? [[String: Any]])?.compactMap { $0["label"] as? String } ?? []
    #expect(labels.contains("income-per-year") && labels.contains("marital-status") && labels.count == 15, "\(labels)")
    #expect(c.stop() == 0)
  }

  @Test func badMessagesGetProtocolErrorsAndTheServerGoesOn() throws {
    let c = Client()
    // Before initialize: -32002.
    let early = c.response(c.request("textDocument/hover", [:]))
    #expect(((early?["error"] as? [String: Any])?["code"] as? Int) == -32002)
    c.start()
    // Not JSON: a parse error with a null id.
    c.sendRaw(Array("Content-Length: 9\r\n\r\n{not json".utf8))
    let parse = c.wait { $0["error"] != nil }
    #expect(((parse?["error"] as? [String: Any])?["code"] as? Int) == -32700 && parse?["id"] is NSNull)
    // No Content-Length.
    c.sendRaw(Array("Content-Type: x\r\n\r\n".utf8))
    let header = c.wait { $0["error"] != nil }
    #expect(((header?["error"] as? [String: Any])?["code"] as? Int) == -32600)
    // Unknown method.
    let unknown = c.response(c.request("workspace/doSomethingOdd"))
    #expect(((unknown?["error"] as? [String: Any])?["code"] as? Int) == -32601)
    // Missing params.
    let bad = c.response(c.request("textDocument/hover", ["textDocument": ["uri": "file:///nowhere.yaml"]]))
    #expect(((bad?["error"] as? [String: Any])?["code"] as? Int) == -32602)
    // A message over the limit is read, dropped and answered.
    let huge = [UInt8](repeating: 0x20, count: LanguageServer.maxMessageBytes + 10)
    c.sendRaw(Array("Content-Length: \(huge.count)\r\n\r\n".utf8) + huge)
    let big = c.wait { $0["error"] != nil }
    #expect(((big?["error"] as? [String: Any])?["message"] as? String)?.contains("over the limit") == true)
    // A document over the spec reader's limit gets a located diagnostic, not a crash.
    let uri = "file:///tmp/mtlc-lsp-huge.yaml"
    let text = "mtlc: 1\n" + String(repeating: "# padding\n", count: 200_000)
    c.notify("textDocument/didOpen", ["textDocument": ["uri": uri, "languageId": "yaml", "version": 1, "text": text]])
    let d = c.diagnostics(uri) ?? []
    #expect(d.contains { ($0["code"] as? String) == "E0105" }, "\(d.map { $0["code"] ?? "" })")
    // Still serving.
    let ok = c.response(
      c.request("textDocument/hover", ["textDocument": ["uri": uri], "position": ["line": 0, "character": 1]]))
    #expect(ok?["error"] == nil)
    #expect(c.stop() == 0)
  }

  @Test func exitWithoutShutdownIsStatusOne() {
    let c = Client()
    c.start()
    c.notify("exit")
    c.done.wait()
    #expect(c.status == 1)
  }

  @Test func hoverTextIsDocsSpecMd() throws {
    // The generated table agrees with docs/spec.md (scripts/gen-spec-docs writes it).
    let md = try String(contentsOf: repo.appendingPathComponent("docs/spec.md"), encoding: .utf8)
    var rows: [String] = []
    var section: String? = nil
    for line in md.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("## `"), line.hasSuffix("`") {
        section = String(line.dropFirst(4).dropLast())
        continue
      }
      if line.hasPrefix("# ") || line.hasPrefix("## ") { section = nil }
      guard let section, line.hasPrefix("| `"), line.hasSuffix(" |") else { continue }
      let cells = line.dropFirst(2).dropLast(2).components(separatedBy: " | ")
      guard cells.count >= 4, cells[0].hasPrefix("`"), cells[0].hasSuffix("`") else { continue }
      let key = String(cells[0].dropFirst().dropLast())
      guard key.allSatisfy({ $0.isLowercase || $0 == "_" || $0 == "." }) else { continue }
      rows.append([section, key, cells[1], cells[2], cells[3...].joined(separator: " | ")].joined(separator: "\u{1}"))
    }
    let generated = SpecDocs.rows.map {
      [$0.section, $0.key, $0.type, $0.defaultValue, $0.meaning].joined(separator: "\u{1}")
    }
    #expect(rows == generated, "docs/spec.md changed: run scripts/gen-spec-docs")
    #expect(generated.count > 70)
  }
}
