import Foundation
import MTLCompiler
import MTLDiagnostics
import Testing

/// Every file in Fixtures/fuzz is hostile input: a crasher, hang or blow-up found by fuzzing
/// (`scripts/fuzz`) or crafted by hand, saved byte for byte. Each must compile to a result
/// (errors are fine) in bounded time, without an internal error, and its diagnostics must render.
struct FuzzRegressionTests {
  static let dir = Fixtures.url("fuzz")

  static var cases: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
  }

  /// Codes some inputs must produce (the limit that stops them).
  static let expected: [String: String] = [
    "deep-flow-nesting.yaml": "E0104",
    "alias-bomb.yaml": "E0103",
    "alias-long-string.yaml": "E0103",
    "ff-bytes.yaml": "E0107",
    "nul-raw-in-quoted-key.yaml": "E0108",
    "many-duplicate-keys.yaml": "E0102",
    "many-unknown-keys.yaml": "E0201",
  ]

  @Test("the fuzz regression corpus is there")
  func corpusPresent() {
    #expect(Self.cases.count >= 5, "only \(Self.cases.count) fuzz inputs")
  }

  @Test("each fuzz input compiles to a result whose diagnostics render", arguments: cases)
  func survives(_ name: String) throws {
    let bytes = [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent(name)))
    var options = Compiler.Options()
    options.readData = false
    let start = ContinuousClock.now
    let r = Compiler.compile(bytes: bytes, path: name, options: options)
    let rendered = r.rendered
    for d in r.diagnostics.all { #expect(!DiagnosticRenderer.render(d, source: nil).isEmpty) }
    let elapsed = ContinuousClock.now - start
    #expect(r.succeeded || r.diagnostics.hasErrors, "\(name) failed without an error")
    #expect(r.diagnostics.all.isEmpty || !rendered.isEmpty)
    #expect(!r.diagnostics.all.contains { $0.code == .internalError }, "\(name):\n\(rendered)")
    if let code = Self.expected[name] {
      #expect(r.diagnostics.all.contains { $0.code.id == code }, "\(name) should report \(code):\n\(rendered)")
    }
    // Generous (debug builds are slow); the quadratic cases these guard against took minutes.
    #expect(elapsed < .seconds(20), "\(name) took \(elapsed)")
  }

  @Test("a diagnostic on a very long line shows a window of it, the caret still under the span")
  func longLineIsClipped() {
    let line = String(repeating: "k", count: 1000) + "BAD" + String(repeating: "z", count: 1000)
    let src = SourceFile(path: "t.yaml", text: line + "\n")
    let span = Span(file: "t.yaml", start: SourceLoc(line: 1, column: 1001), end: SourceLoc(line: 1, column: 1004))
    let text = DiagnosticRenderer.render(Diagnostic(.unknownKey, "unknown key", at: span), source: src)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let shown = lines[2].dropFirst("1 | ".count)
    let carets = lines[3].dropFirst("  | ".count)
    #expect(shown.hasPrefix("\u{2026}") && shown.hasSuffix("\u{2026}"))
    #expect(shown.count <= DiagnosticRenderer.maxLineShown + 2)
    let at = carets.firstIndex(of: "^").map { carets.distance(from: carets.startIndex, to: $0) } ?? -1
    #expect(Array(shown)[at..<(at + 3)] == ["B", "A", "D"], "\(text)")
    #expect(carets.hasSuffix("^^^"))
  }

  @Test("past maxShown diagnostics, the rest are counted, not rendered")
  func renderingIsCapped() {
    var ds = Diagnostics()
    for i in 1...(DiagnosticRenderer.maxShown + 5) {
      ds.error(.unknownKey, "unknown key k\(i)", at: .point("t.yaml", line: i, column: 1))
    }
    let text = DiagnosticRenderer.render(ds, source: nil)
    #expect(text.contains("... 5 more not shown"))
    #expect(text.contains("\(DiagnosticRenderer.maxShown + 5) errors found"))
    #expect(!text.contains("unknown key k\(DiagnosticRenderer.maxShown + 1)\n"))
  }
}
