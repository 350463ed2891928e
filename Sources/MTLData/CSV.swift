// CSV files -> a columnar table of cells.
//
// The dialect is RFC 4180 with the usual relaxations:
// - the first record is the header; every record must have as many fields as the header;
// - fields are separated by one ASCII delimiter byte (default `,`);
// - a field that starts with `"` is quoted: it may hold delimiters, line breaks and `""` (one quote),
//   and ends at the next lone `"`; a `"` inside an unquoted field is an ordinary character;
// - lines end in LF, CRLF or a lone CR, mixed freely; empty lines (no bytes at all) are skipped,
//   so a trailing line break or blank lines between records do no harm;
// - a UTF-8 byte order mark at the start is skipped; cells must be valid UTF-8 and hold no NUL;
// - ASCII spaces (U+0020 only, not tabs) around a field are trimmed, outside the quotes of a quoted
//   field too; spaces inside quotes are kept. (With a space delimiter nothing is trimmed.)
//
// A record that breaks these rules (a wrong field count, text after a closing quote, a cell that
// is not UTF-8 or holds a NUL) is an error naming its line, or, with `BadRowPolicy.skip`, is
// dropped and counted in `skipped` (see BadRows.swift). Only the first `header.count + 1` fields of
// a record are kept while it is read, so a ragged line of any length costs no more memory than a
// good one.
//
// Cells are not copied into Strings: the table keeps the file's bytes (quoted fields unescaped
// in place) and the byte range of each cell, 8 bytes a cell, row-major; columns are reached by
// name (`column(named:)`), so callers see a columnar table.

import MTLDiagnostics
import MTLGraph
import MTLSupport

/// A byte range in `RawTable.storage`: one cell.
struct CellSpan: Sendable, Equatable {
  var start: UInt32
  var end: UInt32
}

/// A parsed CSV file: the header and, per column, every cell, as bytes.
public struct RawTable: Sendable {
  /// The path the table was read from, as given (used in error messages).
  public let path: String
  /// Column names, trimmed, in file order.
  public let header: [String]
  /// Data records (the header not counted).
  public let rowCount: Int
  /// The file's bytes with quoted fields unescaped in place; cells point into it.
  let storage: [UInt8]
  /// Every cell's bytes, row-major. [N, C]
  let spans: [CellSpan]
  /// The 1-based file line where each record starts. [N]
  let lines: [Int32]
  /// The line of the header: 1 unless blank lines come first.
  let headerLine: Int
  /// The rows dropped as bad under `BadRowPolicy.skip` (always empty under `.error`).
  public let skipped: SkipReport

  public var columnCount: Int { header.count }

  init(
    path: String, header: [String], storage: [UInt8], spans: [CellSpan], lines: [Int32],
    headerLine: Int, skipped: SkipReport
  ) {
    self.path = path
    self.header = header
    self.rowCount = lines.count
    self.storage = storage
    self.spans = spans
    self.lines = lines
    self.headerLine = headerLine
    self.skipped = skipped
  }

  /// Reads and parses a CSV file. `delimiter` is one ASCII character. With `onBadRow: .skip`,
  /// records with a row-level syntax problem are dropped (see `skipped`); the value problems a
  /// pipeline finds are dropped by `droppingBadRows(for:)`.
  public static func read(
    _ path: String, delimiter: String = ",", onBadRow: BadRowPolicy = .error, columns: [String]? = nil
  ) throws -> RawTable {
    let bytes: [UInt8]
    do {
      bytes = try AtomicFile.read(path, limit: Int(UInt32.max) - 1)
    } catch let e as FileError {
      throw DataError(path: path, message: "cannot read the file: \(e.reason)")
    }
    return try parse(bytes, path: path, delimiter: delimiter, onBadRow: onBadRow, columns: columns)
  }

  /// The header of a CSV file, without parsing its records (what `mtlc validate` checks): only
  /// the file's beginning is read (inflated when compressed). A glob names its first file.
  public static func readHeader(_ path: String, delimiter: String = ",", columns: [String]? = nil) throws -> [String] {
    let delim = try delimiterByte(delimiter, path: path)
    let file = try DataFiles.expand(path)[0]
    let stream = try ByteStream(path: file)
    if let columns { return columns }
    var bytes: [UInt8] = []
    // Up to the first record boundary after the header; a header longer than 1 MiB reads on.
    var target = 1 << 20
    while try stream.append(to: &bytes, max: target - bytes.count) {
      if RecordChunks.lastBoundary(bytes, delimiter: delim, trim: delim != spaceByte) != nil { break }
      target *= 2
    }
    return try bytes.withUnsafeMutableBufferPointer { buf in
      var parser = CSVParser(buf: buf, path: path, delimiter: delim)
      return try parser.parseHeader()
    }
  }

  /// Parses CSV text held in memory; `path` is only used in error messages.
  public static func parse(
    _ bytes: consuming [UInt8], path: String, delimiter: String = ",", onBadRow: BadRowPolicy = .error,
    columns: [String]? = nil, firstLine: Int = 1, allowNoRows: Bool = false
  ) throws -> RawTable {
    let delim = try delimiterByte(delimiter, path: path)
    var storage = bytes
    if Gzip.isCompressed(storage) { storage = try Gzip.inflate(storage, path: path, limit: Int(UInt32.max) - 1) }
    guard storage.count < Int(UInt32.max) else {
      throw DataError(path: path, message: "the file is larger than 4 GiB")
    }
    let (header, headerLine, spans, lines, skipped) = try storage.withUnsafeMutableBufferPointer {
      buf in
      var parser = CSVParser(buf: buf, path: path, delimiter: delim, skip: onBadRow == .skip)
      parser.givenHeader = columns
      parser.line = firstLine
      parser.lastLine = firstLine
      parser.allowNoRows = allowNoRows
      return try parser.parseAll()
    }
    return RawTable(
      path: path, header: header, storage: storage, spans: spans, lines: lines,
      headerLine: headerLine, skipped: skipped)
  }

  /// The index of the column with this exact name.
  public func columnIndex(_ name: String) -> Int? { header.firstIndex(of: name) }

  /// The column with this exact name; a DataError naming similar header names when absent.
  public func column(named name: String) throws -> RawColumn {
    let i = try requireColumn(name, usedBy: nil)
    return RawColumn(name: name, index: i, table: self)
  }

  /// The 1-based file line where data row `row` (0-based) starts.
  public func line(ofRow row: Int) -> Int { Int(lines[row]) }

  /// One cell as a String. For tests and messages; encoding reads the bytes directly.
  public func cell(row: Int, column: Int) -> String {
    let s = spans[row * header.count + column]
    return String(decoding: storage[Int(s.start)..<Int(s.end)], as: UTF8.self)
  }

  /// The index of column `name`, or a DataError (on the header's line) that lists similar names.
  /// `usedBy` names what needs the column, e.g. "sparse feature `job`".
  func requireColumn(_ name: String, usedBy: String?) throws -> Int {
    if let i = columnIndex(name) { return i }
    var message = "no column `\(name)` in the header"
    if let usedBy { message += " (needed by \(usedBy))" }
    let similar = Suggest.similar(to: name, among: header)
    if !similar.isEmpty {
      message += "; similar names: " + similar.map { "`\($0)`" }.joined(separator: ", ")
    }
    throw DataError(path: path, row: headerLine, message: message)
  }

  static func delimiterByte(_ delimiter: String, path: String) throws -> UInt8 {
    let u = Array(delimiter.utf8)
    guard u.count == 1, u[0] < 0x80, u[0] != UInt8(ascii: "\""), u[0] != 0x0A, u[0] != 0x0D,
      u[0] != 0
    else {
      throw DataError(
        path: path,
        message:
          "the delimiter must be one ASCII character other than a quote or a line break, not \(quoted(delimiter))"
      )
    }
    return u[0]
  }
}

/// One column of a RawTable.
public struct RawColumn: Sendable {
  public let name: String
  /// Position in the header.
  public let index: Int
  let table: RawTable

  public var count: Int { table.rowCount }

  /// The cell of data row `row` (0-based).
  public subscript(row: Int) -> String { table.cell(row: row, column: index) }

  /// All cells, in row order.
  public var values: [String] { (0..<count).map { self[$0] } }
}

// MARK: - The parser

private let quoteByte = UInt8(ascii: "\"")
private let spaceByte = UInt8(ascii: " ")
private let lf: UInt8 = 0x0A
private let cr: UInt8 = 0x0D

/// Cell flags gathered while scanning, checked once the record's field count is known.
private let flagHigh: UInt8 = 1  // has a byte >= 0x80: validate UTF-8
private let flagNUL: UInt8 = 2

struct CSVParser {
  let buf: UnsafeMutableBufferPointer<UInt8>
  let path: String
  let delimiter: UInt8
  let trim: Bool
  /// Drop bad records into `skipped` instead of throwing.
  let skip: Bool
  var skipped: SkipReport
  /// Under `skip`: the field after whose closing quote text followed, in the record being read.
  var textAfterQuote: Int? = nil
  /// The line the last record read ends on.
  var lastLine = 1
  /// Read position.
  var i = 0
  /// 1-based line number of position `i`.
  var line = 1
  /// Set once the header is parsed (for error messages).
  var header: [String]? = nil
  /// The column names of a file without a header line (`data.columns`): its first line is a record.
  var givenHeader: [String]? = nil
  /// A piece of a file after its first (`RecordChunks`): no records is not an error.
  var allowNoRows = false

  init(buf: UnsafeMutableBufferPointer<UInt8>, path: String, delimiter: UInt8, skip: Bool = false) {
    self.buf = buf
    self.path = path
    self.delimiter = delimiter
    self.skip = skip
    self.skipped = SkipReport(path: path)
    self.trim = delimiter != spaceByte
    if buf.count >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF { i = 3 }
  }

  /// The header record alone (the rest of the file is not parsed).
  mutating func parseHeader() throws -> [String] {
    _ = try parseAll(headerOnly: true)
    return header ?? []
  }

  mutating func parseAll(headerOnly: Bool = false) throws -> (
    header: [String], headerLine: Int, spans: [CellSpan], lines: [Int32], skipped: SkipReport
  ) {
    var cells: [CellSpan] = []
    var flagged: [(field: Int, flag: UInt8)] = []
    let headerStart = i
    var names: [String] = []
    let headerLine: Int
    if let givenHeader {
      // No header line: the names come from the spec, and every line is a record.
      guard !givenHeader.isEmpty else {
        throw DataError(path: path, message: "no column names for a file without header")
      }
      names = givenHeader
      headerLine = 0
    } else {
      // The header is never skipped: without it no record can be read.
      guard let (line, _) = try nextRecord(&cells, &flagged, keep: Int.max, lenient: false)
      else {
        throw DataError(path: path, message: "the file is empty")
      }
      headerLine = line
      for (k, flag) in flagged {
        if let m = cellProblem(cells[k], flag) {
          throw DataError(path: path, row: headerLine, message: "header field \(k + 1): \(m)")
        }
      }
      for s in cells {
        names.append(
          String(
            decoding: UnsafeBufferPointer(rebasing: buf[Int(s.start)..<Int(s.end)]), as: UTF8.self))
      }
    }
    var seen: [String: Int] = [:]
    for (k, name) in names.enumerated() {
      if let first = seen[name] {
        throw DataError(
          path: path, row: headerLine,
          message: "duplicate column name `\(name)` (fields \(first + 1) and \(k + 1))")
      }
      seen[name] = k
    }
    header = names
    if headerOnly { return (names, headerLine, [], [], skipped) }

    let c = names.count
    // A guess at the row count from the header's length (rows are usually no shorter).
    let guess = min(buf.count / max(i - headerStart, givenHeader == nil ? 8 : 8 * max(names.count, 1)), 1 << 24)
    cells.removeAll(keepingCapacity: true)
    cells.reserveCapacity(guess * c)
    var lines: [Int32] = []
    lines.reserveCapacity(guess)

    while true {
      let first = cells.count
      flagged.removeAll(keepingCapacity: true)
      // Fields past c + 1 are counted, not kept: one more than the header is enough to know the
      // record is bad.
      guard let (start, got) = try nextRecord(&cells, &flagged, keep: c + 1, lenient: skip) else {
        break
      }
      // Under `skip`, the first problem the `error` policy would report is the reason.
      var problem: String? = nil
      if let k = textAfterQuote {
        problem =
          (k < c ? "column `\(names[k])`: " : "") + "text after the closing quote of a quoted field"
      } else if got != c {
        if !skip {
          throw DataError(path: path, row: start, message: "expected \(c) fields, got \(got)")
        }
        problem = "expected \(c) fields, got \(got)"
      } else {
        for (k, flag) in flagged {
          if let m = cellProblem(cells[first + k], flag) {
            if !skip { throw DataError(path: path, row: start, column: names[k], message: m) }
            problem = "column `\(names[k])`: " + (flag & flagNUL != 0 ? "a NUL byte" : "invalid UTF-8")
            break
          }
        }
      }
      if let problem {
        skipped.add(problem, line: start, lastLine: lastLine)
        cells.removeSubrange(first...)
        continue
      }
      lines.append(Int32(truncatingIfNeeded: start))
    }
    if lines.isEmpty && !allowNoRows {
      if !skipped.isEmpty { throw skipped.nothingLeft() }
      throw DataError(path: path, message: "the file has a header but no data rows")
    }
    return (names, headerLine, cells, lines, skipped)
  }

  private func cellProblem(_ s: CellSpan, _ flag: UInt8) -> String? {
    if flag & flagNUL != 0 { return "the cell contains a NUL byte" }
    if flag & flagHigh != 0 {
      if let bad = firstInvalidUTF8(UnsafeBufferPointer(rebasing: buf[Int(s.start)..<Int(s.end)])) {
        return "invalid UTF-8 at byte \(bad + 1) of the cell"
      }
    }
    return nil
  }

  private func columnName(_ k: Int) -> String? {
    if let header, k < header.count { return header[k] }
    return nil
  }

  /// Parses the next non-empty record, appending one span per field to `cells` (the first `keep`
  /// fields only) and the fields (numbered from 0 in the record) that need checking to `flagged`;
  /// returns the line the record starts on and its field count, or nil at the end of the input.
  /// `lastLine` is set to the line the record ends on. When `lenient`, text after a closing quote
  /// is not an error: it sets `textAfterQuote` and the field runs on to the next delimiter or line
  /// end (the record is then dropped).
  mutating func nextRecord(
    _ cells: inout [CellSpan], _ flagged: inout [(field: Int, flag: UInt8)], keep: Int,
    lenient: Bool
  ) throws -> (start: Int, fields: Int)? {
    let n = buf.count
    // Skip empty lines.
    while i < n && (buf[i] == lf || buf[i] == cr) { consumeLineEnd() }
    if i >= n { return nil }
    let start = line
    textAfterQuote = nil
    var field = 0
    while true {
      var flag: UInt8 = 0
      if trim { while i < n && buf[i] == spaceByte { i += 1 } }
      var s = i
      var e = i
      if i < n && buf[i] == quoteByte {
        let openLine = line
        i += 1
        s = i
        var w = i
        while true {
          guard i < n else {
            throw DataError(
              path: path, row: start, column: columnName(field),
              message:
                "unterminated quoted field: the quote opened on line \(openLine) is never closed")
          }
          let b = buf[i]
          if b == quoteByte {
            if i + 1 < n && buf[i + 1] == quoteByte {
              buf[w] = quoteByte
              w += 1
              i += 2
              continue
            }
            i += 1
            break
          }
          if b == lf {
            line += 1
          } else if b == cr && !(i + 1 < n && buf[i + 1] == lf) {
            line += 1
          } else if b == 0 {
            flag |= flagNUL
          } else if b >= 0x80 {
            flag |= flagHigh
          }
          buf[w] = b
          w += 1
          i += 1
        }
        e = w
        if trim { while i < n && buf[i] == spaceByte { i += 1 } }
        if i < n && buf[i] != delimiter && buf[i] != lf && buf[i] != cr {
          guard lenient else {
            let ch = String(decoding: [buf[i]], as: UTF8.self)
            throw DataError(
              path: path, row: start, column: columnName(field),
              message: "unexpected \(quoted(ch)) after the closing quote of a quoted field")
          }
          // The record is dropped: read on to where an unquoted field would end.
          if textAfterQuote == nil { textAfterQuote = field }
          while i < n && buf[i] != delimiter && buf[i] != lf && buf[i] != cr { i += 1 }
        }
      } else {
        // The hot loop: locals only.
        let base = buf.baseAddress!
        let d = delimiter
        var j = i
        while j < n {
          let b = base[j]
          if b == d || b == lf || b == cr { break }
          if b &- 1 >= 0x7F { flag |= b == 0 ? flagNUL : flagHigh }
          j += 1
        }
        i = j
        e = j
        if trim { while e > s && buf[e - 1] == spaceByte { e -= 1 } }
      }
      if field < keep {
        if flag != 0 { flagged.append((field, flag)) }
        cells.append(CellSpan(start: UInt32(s), end: UInt32(e)))
      }
      field += 1
      if i < n && buf[i] == delimiter {
        i += 1
        continue
      }
      break
    }
    lastLine = line
    if i < n { consumeLineEnd() }
    return (start, field)
  }

  /// Consumes one LF, CRLF or lone CR at `i`.
  private mutating func consumeLineEnd() {
    if buf[i] == cr && i + 1 < buf.count && buf[i + 1] == lf { i += 1 }
    i += 1
    line += 1
  }
}

/// The offset of the first byte that is not part of a valid UTF-8 sequence (overlong forms,
/// surrogates and code points above U+10FFFF are invalid), or nil.
func firstInvalidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
  var i = 0
  let n = b.count
  while i < n {
    let c = b[i]
    if c < 0x80 {
      i += 1
      continue
    }
    var need = 0
    var lo: UInt8 = 0x80
    var hi: UInt8 = 0xBF
    switch c {
    case 0xC2...0xDF: need = 1
    case 0xE0:
      need = 2
      lo = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: need = 2
    case 0xED:
      need = 2
      hi = 0x9F
    case 0xF0:
      need = 3
      lo = 0x90
    case 0xF1...0xF3: need = 3
    case 0xF4:
      need = 3
      hi = 0x8F
    default: return i
    }
    for k in 1...need {
      guard i + k < n else { return i }
      let t = b[i + k]
      let (l, h) = k == 1 ? (lo, hi) : (UInt8(0x80), UInt8(0xBF))
      if t < l || t > h { return i }
    }
    i += need + 1
  }
  return nil
}
