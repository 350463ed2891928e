import Foundation
import MTLDiagnostics
import MTLYAML
import Testing

/// The YAML reader against hostile and odd input: each case is rejected with the right code at
/// the right place, in bounded time, or read correctly.
struct YAMLReaderTests {
  func read(_ text: String) -> YAMLReader.Result { YAMLReader.read(bytes: Array(text.utf8), path: "t.yaml") }
  func read(_ bytes: [UInt8]) -> YAMLReader.Result { YAMLReader.read(bytes: bytes, path: "t.yaml") }

  /// The diagnostics as "CODE line:col".
  func codes(_ r: YAMLReader.Result) -> [String] {
    r.diagnostics.sorted.map { "\($0.code.id) \($0.span.map { "\($0.start.line):\($0.start.column)" } ?? "-")" }
  }

  @Test func emptyFile() {
    let r = read("")
    #expect(r.root == nil)
    #expect(codes(r) == ["E0110 1:1"])
  }

  @Test func whitespaceAndCommentsOnly() {
    #expect(codes(read("  \n\n")) == ["E0110 1:1"])
    #expect(codes(read("# just a comment\n")) == ["E0110 1:1"])
  }

  @Test func binaryFile() {
    var bytes: [UInt8] = []
    var x: UInt32 = 12345
    for _ in 0..<4096 {
      x = x &* 1_103_515_245 &+ 12345
      bytes.append(UInt8(truncatingIfNeeded: x >> 16))
    }
    let r = read(bytes)
    #expect(r.root == nil)
    #expect(r.diagnostics.hasErrors)
    #expect(r.diagnostics.all.allSatisfy { ["E0107", "E0108", "E0109"].contains($0.code.id) })
    #expect(r.diagnostics.all.count <= 20, "reports are capped")
  }

  @Test func fileOverTheSizeLimit() {
    let big = "name: \"" + String(repeating: "x", count: 1 << 21) + "\"\n"
    #expect(codes(read(big)) == ["E0105 1:1"])
  }

  @Test func hugeScalarUnderTheLimitIsRead() throws {
    let text = "name: \"" + String(repeating: "y", count: 900_000) + "\"\n"
    let root = try #require(read(text).root)
    guard case .mapping(let pairs) = root.kind, case .scalar(let s, _) = pairs[0].value.kind else {
      Issue.record("not a mapping")
      return
    }
    #expect(s.count == 900_000)
  }

  @Test func aliasBomb() {
    // Nine levels of ten-fold aliases: 10^9 nodes if expanded.
    var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in 1...9 {
      text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i-1)", count: 10).joined(separator: ", ") + "]\n"
    }
    let start = Date()
    let r = read(text)
    #expect(r.root == nil)
    #expect(r.diagnostics.all.map(\.code.id) == ["E0103"])
    #expect(Date().timeIntervalSince(start) < 5)
  }

  @Test func smallAliasesAreExpanded() throws {
    let r = read("base: &b {units: [8, 8]}\nother: *b\n")
    let root = try #require(r.root)
    guard case .mapping(let pairs) = root.kind, case .mapping(let inner) = pairs[1].value.kind else {
      Issue.record("alias not expanded")
      return
    }
    #expect(inner.map(\.name) == ["units"])
  }

  @Test func deepNesting() {
    let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    let r = read(text)
    #expect(codes(r) == ["E0104 1:65"])
  }

  @Test func moreThanOneDocument() {
    #expect(codes(read("mtlc: 1\n---\nmtlc: 1\n")) == ["E0106 2:1"])
  }

  @Test func invalidUTF8() {
    var b = Array("name: ab".utf8)
    b.append(0xFF)
    b += Array("c\n".utf8)
    let r = read(b)
    #expect(codes(r) == ["E0107 1:9"])
    #expect(r.diagnostics.all[0].message.contains("0xFF"))
  }

  @Test func overlongAndSurrogateEncodingsAreInvalid() {
    #expect(codes(read([0x61, 0x3A, 0x20, 0xC0, 0xAF])) == ["E0107 1:4"])
    #expect(codes(read([0x61, 0x3A, 0x20, 0xED, 0xA0, 0x80])) == ["E0107 1:4"])
  }

  @Test func nulByte() {
    #expect(codes(read([0x61, 0x3A, 0x20, 0x00, 0x0A])) == ["E0108 1:4"])
  }

  @Test func escapedNulInsideAScalarIsKept() throws {
    // "\0" in a double-quoted scalar is a NUL character: the reader keeps it (lengths, not C strings).
    let root = try #require(read("a: \"x\\0y\"\n").root)
    guard case .mapping(let pairs) = root.kind, case .scalar(let s, _) = pairs[0].value.kind else {
      Issue.record("not read")
      return
    }
    #expect(Array(s.utf8) == [0x78, 0x00, 0x79])
  }

  @Test func tabIndentation() {
    let r = read("data:\n\ttrain: x.csv\n")
    #expect(codes(r) == ["E0109 2:1"])
    // A tab after content is not indentation.
    #expect(read("a: 1\t# note\n").diagnostics.all.isEmpty)
  }

  @Test func duplicateKeyNamesTheFirst() {
    let r = read("name: a\nmtlc: 1\nname: b\n")
    #expect(codes(r) == ["E0102 3:1"])
    #expect(r.diagnostics.all[0].notes == ["`name` was first defined at t.yaml:1:1"])
  }

  @Test func nonScalarKey() {
    #expect(codes(read("? [a, b]\n: c\n")) == ["E0111 1:3"])
  }

  @Test func undefinedAlias() {
    #expect(codes(read("a: *nothing\n")) == ["E0112 1:4"])
  }

  @Test func foreignTag() {
    #expect(codes(read("a: !!python/object:os.system x\n")) == ["E0113 1:4"])
    #expect(read("a: !!str 12\n").diagnostics.all.isEmpty)
  }

  @Test func syntaxErrorIsLocated() {
    let r = read("a: [1, 2\nb: 3\n")
    #expect(r.diagnostics.all.map(\.code.id) == ["E0101"])
    #expect(r.diagnostics.all[0].message.hasPrefix("invalid YAML: "))
  }

  @Test func columnsCountCharactersNotBytes() {
    // "é" is two bytes; the duplicate key after it is at character column 11.
    let r = read("{é: 1, x: 2, x: 3}\n")
    #expect(codes(r) == ["E0102 1:14"])
  }

  @Test func byteOrderMarkAndCRLF() throws {
    let r = read([0xEF, 0xBB, 0xBF] + Array("a: 1\r\nb: [x,\r\n  y]\r\n".utf8))
    #expect(r.diagnostics.all.isEmpty)
    let root = try #require(r.root)
    guard case .mapping(let pairs) = root.kind else {
      Issue.record("not a mapping")
      return
    }
    #expect(pairs.map(\.name) == ["a", "b"])
    #expect(pairs[1].key.span.start == SourceLoc(line: 2, column: 1))
  }

  @Test func plainAndQuotedScalarsAreDistinguished() throws {
    let root = try #require(read("a: 1\nb: \"1\"\n").root)
    guard case .mapping(let p) = root.kind, case .scalar(_, let plainA) = p[0].value.kind,
      case .scalar(_, let plainB) = p[1].value.kind
    else {
      Issue.record("not a mapping of two scalars")
      return
    }
    #expect(plainA)
    #expect(!plainB)
  }
}
