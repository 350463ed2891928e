// Data larger than memory: files read a piece at a time, several files and globs, shards on
// disk, and the same examples whichever source serves them.

import Foundation
import MTLData
import MTLGraph
import MTLSupport
import Testing

/// Every example of `e`, gathered in order: ids, dense values, labels.
func contents(_ e: any Examples) -> ([Int32], [Float], [Float]) {
  var s = [Int32](repeating: 0, count: e.count * e.sparseWidth)
  var d = [Float](repeating: 0, count: e.count * e.denseWidth)
  var l = [Float](repeating: 0, count: e.count * e.labelWidth)
  let all = Array(0..<e.count)
  // Batches of 100 in a scattered order, as training reads them.
  var lo = 0
  while lo < e.count {
    let hi = min(lo + 100, e.count)
    s.withUnsafeMutableBufferPointer { sp in
      d.withUnsafeMutableBufferPointer { dp in
        l.withUnsafeMutableBufferPointer { lp in
          e.gather(
            indices: all[lo..<hi], into: sp.baseAddress! + lo * e.sparseWidth,
            dense: dp.baseAddress! + lo * e.denseWidth,
            labels: lp.baseAddress! + lo * e.labelWidth)
        }
      }
    }
    lo = hi
  }
  return (s, d, l)
}

/// A gzip member of any size: stored deflate blocks of at most 65535 bytes (RFC 1951 BTYPE 00),
/// the last one final, then the CRC-32 and the size.
func gzipStored(_ text: String) -> [UInt8] {
  let data = Array(text.utf8)
  var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
  var at = 0
  repeat {
    let n = min(65535, data.count - at)
    let final: UInt8 = at + n == data.count ? 1 : 0
    let len = UInt16(n)
    out += [final, UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8(~len >> 8)]
    out += data[at..<(at + n)]
    at += n
  } while at < data.count
  let crc = Checksum.crc32(data)
  for k in 0..<4 { out.append(UInt8((crc >> (8 * UInt32(k))) & 0xFF)) }
  for k in 0..<4 { out.append(UInt8((UInt32(truncatingIfNeeded: data.count) >> (8 * UInt32(k))) & 0xFF)) }
  return out
}

/// Bitwise equality (NaN labels compare equal to themselves).
func sameBits(_ a: [Float], _ b: [Float]) -> Bool { a.map(\.bitPattern) == b.map(\.bitPattern) }

@Suite struct RecordChunking {
  static let tricky =
    "a,b,y\r\n"
    + (0..<200).map { i in
      i % 7 == 0 ? "\"multi\nline \(i)\",\"q\"\"uote\",\(i % 2)\r\n" : "v\(i % 5), w\(i),\(i % 2)\r\n"
    }.joined()

  /// Every cell and line of a chunked read, concatenated.
  func cells(_ chunks: RecordChunks) throws -> (cells: [String], lines: [Int]) {
    var out: [String] = []
    var lines: [Int] = []
    while let t = try chunks.next() {
      for r in 0..<t.rowCount {
        lines.append(t.line(ofRow: r))
        for c in 0..<t.columnCount { out.append(t.cell(row: r, column: c)) }
      }
    }
    return (out, lines)
  }

  @Test(arguments: [5, 17, 64, 1000, 1 << 20])
  func piecesParseAsTheWholeFile(chunkBytes: Int) throws {
    let path = try fixture("t.csv", Self.tricky)
    let whole = try RawTable.read(path)
    var expected: [String] = []
    for r in 0..<whole.rowCount { for c in 0..<whole.columnCount { expected.append(whole.cell(row: r, column: c)) } }
    let got = try cells(
      RecordChunks(files: [path], delimiter: ",", columns: nil, onBadRow: .error, chunkBytes: chunkBytes))
    #expect(got.cells == expected)
    #expect(got.lines == (0..<whole.rowCount).map(whole.line(ofRow:)))
    // Compressed, inflated as it streams.
    let gz = try fixture("t.csv.gz", gzipStored(Self.tricky))
    let packed = try cells(
      RecordChunks(files: [gz], delimiter: ",", columns: nil, onBadRow: .error, chunkBytes: chunkBytes))
    #expect(packed.cells == expected && packed.lines == got.lines)
  }

  @Test func anErrorInALaterPieceNamesItsFileLineAndColumn() throws {
    var text = "a,x\n" + (0..<500).map { "v\($0),\($0)\n" }.joined()
    text += "v,1,extra\n"
    let path = try fixture("late.csv", text)
    let chunks = try RecordChunks(files: [path], delimiter: ",", columns: nil, onBadRow: .error, chunkBytes: 256)
    expectDataError("\(path):502: error: expected 2 fields, got 3") { while try chunks.next() != nil {} }
    // A value error found by the fit in a later piece: line 302's `x` is not a number.
    let bad = "a,x,y\n" + (0..<500).map { i in "v\(i),\(i == 300 ? "oops" : "\(i)"),\(i % 2)\n" }.joined()
    let badPath = try fixture("value.csv", bad)
    var p = pipeline(
      sparse: [sparse("a")], dense: [dense("x")], labels: [LabelColumn(task: "y", column: "y", rule: .positive(["1"]))],
      train: badPath, testFraction: 0)
    p.streaming = true
    expectDataError("\(badPath):302: error: column `x`: `oops` is not a number") {
      _ = try DataSets.load(p, cache: nil, chunkBytes: 300)
    }
  }

  @Test func badRowsAreSkippedPieceByPieceAsInTheWholeFile() throws {
    // Bad rows spread over many pieces: wrong field counts, a non-number, a bad label.
    var text = "a,x,y\n"
    for i in 0..<400 {
      switch i % 50 {
      case 7: text += "v\(i),\(i)\n"
      case 19: text += "v\(i),abc\(i),1\n"
      case 33: text += "v\(i),\(i),\n"
      default: text += "v\(i % 9),\(i),\(i % 2)\n"
      }
    }
    let path = try fixture("dirty.csv", text)
    var p = pipeline(
      sparse: [sparse("a")], dense: [dense("x")], labels: [LabelColumn(task: "y", column: "y", rule: .positive(["1"]))],
      train: path, testFraction: 0.2)
    p.onBadRow = .skip
    p.streaming = false
    let whole = try DataSets.load(p, cache: nil)
    p.streaming = true
    let pieces = try DataSets.load(p, cache: nil, chunkBytes: 97)
    #expect(whole.skipped.count == 1 && whole.skipped == pieces.skipped)
    #expect(whole.skipped.first?.count == 24)
    #expect(contents(whole.train).0 == contents(pieces.train).0 && contents(whole.test).0 == contents(pieces.test).0)
  }

  @Test func anUnterminatedQuoteIsAnErrorNotTheWholeFileInMemory() throws {
    let text = "a,b\n1,2\n\"open,3\n" + String(repeating: "x,4\n", count: 2000)
    let path = try fixture("quote.csv", text)
    let chunks = try RecordChunks(
      files: [path], delimiter: ",", columns: nil, onBadRow: .error, chunkBytes: 64, maxRecordBytes: 1024)
    expectDataError("\(path):3: error: no record ends within 1024 bytes of this line (an unterminated quoted field?)") {
      while try chunks.next() != nil {}
    }
  }

  @Test func globsExpandSortedAndFailWhenNothingMatches() throws {
    let dir = try temporaryFolder()
    for name in ["day-2.csv", "day-10.csv", "day-1.csv", "other.txt"] {
      try Data("a\n1\n".utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
    }
    #expect(
      try DataFiles.expand(dir + "/day-*.csv") == ["day-1.csv", "day-10.csv", "day-2.csv"].map { dir + "/" + $0 })
    #expect(try DataFiles.expand(dir + "/day-1.csv") == [dir + "/day-1.csv"])
    expectDataError("\(dir)/none-*.csv: error: no file matches the pattern") {
      _ = try DataFiles.expand(dir + "/none-*.csv")
    }
  }
}

@Suite struct StreamingSources {
  /// Adult with blocks small enough for several shards, and a window spanning a few.
  func pipeline(streaming: Bool?) -> Pipeline {
    var p = adultPipeline()
    p.streaming = streaming
    p.shardRows = 4096
    p.shuffleWindow = 10_000
    p.validationFraction = 0.1
    return p
  }

  @Test func shardsHoldExactlyTheInMemoryExamples() throws {
    let memory = try DataSets.load(pipeline(streaming: false), cache: nil)
    let shards = try DataSets.load(pipeline(streaming: true), cache: nil, chunkBytes: 200_000)
    guard case .shards = shards.source else {
      Issue.record("not streamed: \(shards.source)")
      return
    }
    #expect(memory.fitted.sameFit(as: shards.fitted) && memory.fitted.trainRowCount == shards.fitted.trainRowCount)
    #expect(memory.fitted.dense == shards.fitted.dense)
    for (a, b) in [(memory.train, shards.train), (memory.test, shards.test), (memory.validation!, shards.validation!)] {
      #expect(a.count == b.count && a.count > 0)
      let (x, y) = (contents(a), contents(b))
      #expect(x.0 == y.0 && sameBits(x.1, y.1) && sameBits(x.2, y.2))
      #expect(a.unseenClassCounts == b.unseenClassCounts)
      for j in 0..<a.labelWidth { #expect(sameBits(a.labelColumn(j), b.labelColumn(j))) }
    }
    #expect((shards.train as! ShardStore).count == memory.train.count)
  }

  @Test func severalFilesAreTheirConcatenation() throws {
    // Adult cut into three files, each with the header: the same rows, split and fit as one file.
    let text = try String(contentsOfFile: adultPath, encoding: .utf8)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    if lines.last == "" { lines.removeLast() }
    let header = lines.removeFirst()
    let dir = try temporaryFolder()
    let cuts = [0, 10_000, 25_000, lines.count]
    for k in 0..<3 {
      let body = lines[cuts[k]..<cuts[k + 1]].joined(separator: "\n")
      let bytes = Array((header + "\n" + body + "\n").utf8)
      try Data(k == 1 ? gzipStored(String(decoding: bytes, as: UTF8.self)) : bytes).write(
        to: URL(fileURLWithPath: dir + "/part-\(k).csv" + (k == 1 ? ".gz" : "")))
    }
    let one = try DataSets.load(pipeline(streaming: false), cache: nil)
    for streaming in [false, true] {
      var p = pipeline(streaming: streaming)
      p.train = dir + "/part-*"
      let many = try DataSets.load(p, cache: nil, chunkBytes: 1 << 20)
      #expect(many.fitted.sparse == one.fitted.sparse && many.fitted.dense == one.fitted.dense)
      let (x, y) = (contents(one.train), contents(many.train))
      #expect(one.train.count == many.train.count && x.0 == y.0 && sameBits(x.1, y.1) && sameBits(x.2, y.2))
      #expect(contents(one.test).0 == contents(many.test).0)
    }
  }

  @Test func aPreparedStoreIsReusedAndADamagedOneIsRebuiltOrRefused() throws {
    let cache = DataCache(directory: try temporaryFolder() + "/cache")
    let p = pipeline(streaming: true)
    let first = try DataSets.load(p, cache: cache)
    guard case .shards(let dir, let reused, _) = first.source else {
      Issue.record("not streamed")
      return
    }
    #expect(!reused && dir.hasPrefix(cache.directory))
    let second = try DataSets.load(p, cache: cache)
    guard case .shards(let again, let wasReused, _) = second.source else {
      Issue.record("not streamed the second time")
      return
    }
    #expect(again == dir && wasReused)
    #expect(contents(second.train).0 == contents(first.train).0)
    // The window is not part of the store: another window reads the same shards.
    var other = p
    other.shuffleWindow = 777
    if case .shards(let d, let r, _) = try DataSets.load(other, cache: cache).source { #expect(d == dir && r) }

    // Shard 0 damaged: the store is found bad when opened, and built again.
    let shard0 = dir + "/train-000000.shard"
    var bytes = try AtomicFile.read(shard0)
    bytes[100] ^= 0xFF
    try AtomicFile.write(bytes, to: shard0)
    let rebuilt = try DataSets.load(p, cache: cache)
    if case .shards(_, let r, _) = rebuilt.source { #expect(!r) }
    #expect(contents(rebuilt.train).0 == contents(first.train).0)

    // A later shard damaged: the store opens (only the first shard is checked up front, so
    // training starts at once), and reading the shard stops with it named.
    let last = dir + "/train-000005.shard"
    bytes = try AtomicFile.read(last)
    bytes[200] ^= 0xFF
    try AtomicFile.write(bytes, to: last)
    let damaged = try DataSets.load(p, cache: cache)
    let store = damaged.train as! ShardStore
    #expect(store.failure == nil)
    _ = contents(store)
    let failure = try #require(store.failure)
    #expect(failure.description.hasPrefix("\(last): error: the shard's checksum does not match"))
  }
}
