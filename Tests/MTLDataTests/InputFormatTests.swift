// Inputs as they come: gzip-compressed files (inflated before parsing, whatever their name;
// concatenated members; truncated or corrupt data named as such) and files without a header line
// whose columns the spec names (`data.columns`), tab-delimited as Criteo's.

import Foundation
import MTLData
import MTLGraph
import MTLSupport
import Testing

@Suite struct InputFormatTests {
  /// A gzip member holding `data` in one stored (uncompressed) deflate block: RFC 1952 header,
  /// RFC 1951 block (BFINAL, BTYPE 00, LEN, NLEN, bytes), CRC-32 and size.
  static func gzip(_ text: String) -> [UInt8] {
    let data = Array(text.utf8)
    precondition(data.count < 65536)
    var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
    let n = UInt16(data.count)
    out += [1, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)]
    out += data
    let crc = Checksum.crc32(data)
    for k in 0..<4 { out.append(UInt8((crc >> (8 * UInt32(k))) & 0xFF)) }
    for k in 0..<4 { out.append(UInt8((UInt32(data.count) >> (8 * UInt32(k))) & 0xFF)) }
    return out
  }

  let csv = "a,b,y\nx,1.5,1\nz,2.5,0\n"

  @Test func aGzipFileParsesAsItsText() throws {
    let plain = try RawTable.parse(Array(csv.utf8), path: "t.csv")
    let packed = try RawTable.parse(Self.gzip(csv), path: "t.csv.gz")
    #expect(packed.header == plain.header)
    #expect(packed.rowCount == 2)
    #expect((0..<2).map { packed.cell(row: $0, column: 0) } == ["x", "z"])
    // Two members one after the other (`cat a.gz b.gz`) read as one text.
    let twice = try RawTable.parse(Self.gzip("a,b,y\nx,1,1\n") + Self.gzip("q,2,0\n"), path: "t.csv.gz")
    #expect(twice.rowCount == 2)
    #expect(twice.cell(row: 1, column: 0) == "q")
    // Read from a file, whatever its name.
    let path = try fixture("data.csv.gz", Self.gzip(csv))
    #expect(try RawTable.read(path).rowCount == 2)
    #expect(try RawTable.readHeader(path) == ["a", "b", "y"])
  }

  @Test func truncatedOrCorruptGzipIsADataError() {
    let whole = Self.gzip(csv)
    expectDataError("t.csv.gz: error: the gzip data is truncated") {
      _ = try RawTable.parse(Array(whole[0..<(whole.count - 12)]), path: "t.csv.gz")
    }
    var bad = whole
    bad[12] ^= 0xFF  // LEN no longer matches NLEN
    do {
      _ = try RawTable.parse(bad, path: "t.csv.gz")
      Issue.record("a corrupt file parsed")
    } catch let e as DataError {
      #expect(e.description.hasPrefix("t.csv.gz: error: corrupt gzip data"), "\(e)")
    } catch {
      Issue.record("\(error)")
    }
  }

  @Test func aFileWithoutHeaderTakesTheSpecsColumnNames() throws {
    let tsv = "1\t0.5\tcat3\n0\t0.25\tcat7\n"
    let t = try RawTable.parse(Array(tsv.utf8), path: "day_0", delimiter: "\t", columns: ["label", "i1", "c1"])
    #expect(t.header == ["label", "i1", "c1"])
    #expect(t.rowCount == 2)
    #expect(t.cell(row: 0, column: 2) == "cat3")
    // The first line is a record: errors name it as line 1.
    expectDataError("day_0:1: error: expected 3 fields, got 2") {
      _ = try RawTable.parse(Array("1\t0.5\n".utf8), path: "day_0", delimiter: "\t", columns: ["label", "i1", "c1"])
    }
    // Compressed and headerless together, through a pipeline: fitted and encoded.
    let path = try fixture("day_0.gz", Self.gzip(tsv + "1\t0.75\tcat3\n"))
    var p = pipeline(
      sparse: [sparse("c1")], dense: [DenseFeature(name: "i1", column: "i1", normalize: .none, missing: [])],
      labels: [LabelColumn(task: "click", column: "label", rule: .positive(["1"]))], train: path, testFraction: 0.34)
    p.delimiter = "\t"
    p.columns = ["label", "i1", "c1"]
    let data = try LoadedData.load(p, cache: nil)
    #expect(data.train.count + data.test.count == 3)
    #expect(data.fitted.sparse[0].values.allSatisfy { $0.hasPrefix("cat") })
  }
}

@Suite struct VocabularyBoundTests {
  // Counts: a 4, b 3, c 3, d 2, e 1 (and the missing marker, never a value).
  let csv = "c,y\na,1\nb,1\nc,1\na,1\nd,1\nb,1\nc,1\na,1\ne,1\n?,1\nd,1\na,1\nb,1\nc,1\n"

  @Test func maxSizeKeepsTheMostFrequentTiesInByteOrder() throws {
    let t = try table(csv)
    func fit(_ v: Vocabulary) throws -> [String] {
      try FittedPipeline.fit(pipeline(sparse: [sparse("c", v)]), table: t, rows: Array(0..<t.rowCount)).sparse[0].values
    }
    #expect(try fit(.learned(minCount: 1)) == ["a", "b", "c", "d", "e"])
    // The 2 most frequent: a (4), then b and c tie at 3: b comes first in byte order.
    #expect(try fit(.learned(minCount: 1, maxSize: 2)) == ["a", "b"])
    #expect(try fit(.learned(minCount: 1, maxSize: 3)) == ["a", "b", "c"])
    // min_count first, then the cap; the kept values stay in byte order (their embedding rows).
    #expect(try fit(.learned(minCount: 3, maxSize: 10)) == ["a", "b", "c"])
    #expect(try fit(.learned(minCount: 2, maxSize: 4)) == ["a", "b", "c", "d"])
  }
}
