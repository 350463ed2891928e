import Foundation
import MTLCompiler
import MTLDiagnostics
import Testing

/// Every file in Fixtures/invalid is a spec with mistakes. Its leading comment lines pin, in
/// order, every diagnostic it must produce:
///
///     # expect: E0201 12:42 unknown key `embeding_dim` in a feature
///
/// (code, line:col, message). The test fails on a missing, extra or different diagnostic.
/// A fixture may read `data/adult-50.csv` (the first 50 rows of the adult data).
struct InvalidSpecTests {
  static let dir = Fixtures.url("invalid")

  static var cases: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
      .filter { $0.hasSuffix(".yaml") }.sorted()
  }

  @Test("the invalid-spec corpus is large enough")
  func corpusSize() {
    #expect(Self.cases.count >= 40, "only \(Self.cases.count) invalid specs")
  }

  @Test("each invalid spec gives exactly its pinned diagnostics", arguments: cases)
  func pinned(_ name: String) throws {
    let path = Self.dir.appendingPathComponent(name).path
    // Bytes, not String(contentsOfFile:): some fixtures are deliberately not UTF-8.
    let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    let expected = text.split(separator: "\n", omittingEmptySubsequences: false)
      .prefix { $0.hasPrefix("#") }
      .compactMap { line -> String? in
        guard let r = line.range(of: "# expect: ") else { return nil }
        return String(line[r.upperBound...])
      }
    #expect(!expected.isEmpty, "\(name) pins no diagnostics")
    let result = Compiler.compile(path: path)
    let got = result.diagnostics.sorted.map { d in
      "\(d.code.id) \(d.span.map { "\($0.start.line):\($0.start.column)" } ?? "-") \(d.message)"
    }
    #expect(got == expected, "\(name):\n\(result.rendered)")
    #expect(!result.succeeded || got.allSatisfy { $0.hasPrefix("W") }, "\(name) compiled")
  }
}

enum Fixtures {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
  static func url(_ sub: String) -> URL { root.appendingPathComponent(sub) }
  static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
}
