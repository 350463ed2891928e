// Bad rows under `on_bad_row: skip`: which rows are dropped, and the report of what was dropped.
//
// A row-level problem is one that concerns a single data record and nothing else:
// - found while parsing (CSV.swift): a wrong field count; text after the closing quote of a
//   quoted field; a cell that is not valid UTF-8 or holds a NUL byte;
// - found by `RawTable.droppingBadRows` (right after parsing, before the split and the fit): a
//   dense cell that is not a missing marker and not a number (text, `NaN`, `inf`, an empty cell
//   not listed as missing), out of the range of a Double (`1e999`), or, under `normalize: none`,
//   too large for a Float; a label cell that is empty or a missing marker; a label that is not a
//   number (`threshold` and regression rules), out of the range of a Double, or too large for a
//   Float (regression).
// These are exactly the errors that the `error` policy reports for the row, so a file loads under
// `skip` without an error if and only if the rows `skip` keeps would load under `error`.
//
// Everything else stays an error under both policies: a file that cannot be read, is empty, has
// a header but no data rows, a header that is not valid UTF-8 or names a column twice, a column
// the pipeline needs that the header lacks, a quote never closed before the end of the file (it
// swallows every later record, so there is no row to skip and nothing after it to keep), dense
// statistics too large to compute, and a value that overflows a Float only after `minmax` or
// `standard` normalization (it depends on the statistics of the training rows, which is known
// only after the split). A load whose every row is bad is an error too.
//
// Dropped rows are gone for everything downstream: the split is made over the surviving rows,
// the pipeline is fitted on them, `Dataset.rows` and `LoadedData.trainRows`/`testRows` index the
// surviving rows (`RawTable.line(ofRow:)` still gives each one's line in the file).

import MTLGraph

/// What `on_bad_row: skip` dropped from one file: a count per reason, with the first lines.
public struct SkipReport: Codable, Equatable, Sendable, CustomStringConvertible {
  /// The file, as given.
  public var path: String
  /// Rows dropped, all reasons together.
  public var count: Int = 0
  /// In the order each reason was first met (parse problems first, then value problems).
  public var reasons: [Reason] = []

  /// Rows listed per reason; the rest are only counted.
  public static let linesShown = 5
  /// Distinct offending cells shown per reason.
  public static let examplesShown = 3
  /// Distinct reasons kept; rows with further reasons are counted under "other problems".
  public static let reasonsKept = 16

  public struct Reason: Codable, Equatable, Sendable {
    /// The problem, e.g. "expected 15 fields, got 14" or "column `age`: not a number".
    public var what: String
    public var count: Int
    /// Up to `examplesShown` distinct offending cells, already quoted (e.g. "`abc`").
    public var examples: [String]
    /// More distinct offending cells were met than `examples` shows.
    public var moreExamples = false
    /// The first `linesShown` rows: the file line each record starts on and, for a record over
    /// several lines, the line it ends on.
    public var lines: [Lines]
  }

  public struct Lines: Codable, Equatable, Sendable {
    public var first: Int
    public var last: Int
  }

  public init(path: String) { self.path = path }

  public var isEmpty: Bool { count == 0 }

  /// Counts one dropped row.
  mutating func add(_ what: String, example: String? = nil, line: Int, lastLine: Int? = nil) {
    count += 1
    var k = reasons.firstIndex { $0.what == what }
    if k == nil {
      if reasons.count < SkipReport.reasonsKept {
        reasons.append(Reason(what: what, count: 0, examples: [], lines: []))
        k = reasons.count - 1
      } else {
        let other = "other problems"
        if reasons.last?.what != other {
          reasons.append(Reason(what: other, count: 0, examples: [], lines: []))
        }
        k = reasons.count - 1
      }
    }
    let i = k!
    reasons[i].count += 1
    if reasons[i].lines.count < SkipReport.linesShown {
      reasons[i].lines.append(Lines(first: line, last: max(line, lastLine ?? line)))
    }
    if let example, reasons[i].what != "other problems" {
      let q = quoted(example)
      if !reasons[i].examples.contains(q) {
        if reasons[i].examples.count < SkipReport.examplesShown {
          reasons[i].examples.append(q)
        } else {
          reasons[i].moreExamples = true
        }
      }
    }
  }

  /// "3 bad rows (2 × expected 15 fields, got 14: rows 7, 19; 1 × column `age`: not a number
  /// (`abc`): row 42)".
  public var summary: String {
    var parts: [String] = []
    for r in reasons {
      var s = "\(r.count) × \(r.what)"
      if !r.examples.isEmpty {
        s += " (" + r.examples.joined(separator: ", ") + (r.moreExamples ? ", ..." : "") + ")"
      }
      s += r.count == 1 ? ": row " : ": rows "
      s += r.lines.map { $0.first == $0.last ? "\($0.first)" : "\($0.first)-\($0.last)" }.joined(
        separator: ", ")
      if r.count > r.lines.count { s += ", ..." }
      parts.append(s)
    }
    return "\(count) bad row\(count == 1 ? "" : "s") (" + parts.joined(separator: "; ") + ")"
  }

  /// One line for the run's log: "data/x.csv: skipped 3 bad rows (...)".
  public var description: String { "\(path): skipped \(summary)" }

  /// The error when nothing is left.
  /// Adds the rows `other` dropped (a later piece of the same file) to this report.
  mutating func merge(_ other: SkipReport) {
    count += other.count
    for r in other.reasons {
      if let k = reasons.firstIndex(where: { $0.what == r.what }) {
        reasons[k].count += r.count
        for l in r.lines where reasons[k].lines.count < SkipReport.linesShown { reasons[k].lines.append(l) }
        for e in r.examples where !reasons[k].examples.contains(e) {
          if reasons[k].examples.count < SkipReport.examplesShown {
            reasons[k].examples.append(e)
          } else {
            reasons[k].moreExamples = true
          }
        }
        if r.moreExamples { reasons[k].moreExamples = true }
      } else if reasons.count < SkipReport.reasonsKept {
        reasons.append(r)
      } else {
        let other = "other problems"
        if reasons.last?.what != other { reasons.append(Reason(what: other, count: 0, examples: [], lines: [])) }
        reasons[reasons.count - 1].count += r.count
        for l in r.lines where reasons[reasons.count - 1].lines.count < SkipReport.linesShown {
          reasons[reasons.count - 1].lines.append(l)
        }
      }
    }
  }

  func nothingLeft() -> DataError {
    DataError(path: path, message: "no data rows left after skipping \(summary)")
  }
}

extension RawTable {
  /// This table without the rows that have a value-level problem for pipeline `p` (see the top of
  /// this file), which are added to `skipped`. Without `labels` the label columns are not read.
  /// A DataError for a column the pipeline needs and the header lacks, or when no row is left.
  public func droppingBadRows(for p: Pipeline, labels withLabels: Bool = true, allowNoneLeft: Bool = false) throws
    -> RawTable
  {
    var p = p
    if !withLabels { p.labels = [] }
    let columns = try FittedPipeline.requiredColumns(p, table: self)
    let denseMissing = p.dense.map { markerSet($0.missing, withEmpty: false) }
    var missing = [""]
    for m in p.sparse.flatMap(\.missing) + p.dense.flatMap(\.missing) where !missing.contains(m) {
      missing.append(m)
    }
    let labelReaders = p.labels.indices.map {
      // Classes are not known before the fit; a bad row's problems do not depend on them.
      LabelReader(
        p.labels[$0], column: columns.labels[$0], spaceColumn: columns.spaces[$0], missing: missing, classes: nil)
    }
    var report = skipped
    var keep: [Bool] = []
    var dropped = 0

    storage.withUnsafeBufferPointer { storage in
      func text(_ cell: UnsafeBufferPointer<UInt8>) -> String {
        // A quoted excerpt shows 40 characters: do not decode a 10 MB cell for that.
        String(decoding: UnsafeBufferPointer(rebasing: cell.prefix(200)), as: UTF8.self)
          + (cell.count > 200 ? "..." : "")
      }
      /// The problem with a number cell, as (what, example); nil when it holds a number that
      /// `fitsFloat` (when asked).
      func numberProblem(_ cell: UnsafeBufferPointer<UInt8>, column c: Int, float: Bool)
        -> (String, String?)?
      {
        let col = "column `\(header[c])`: "
        switch parseNumber(cell) {
        case .number(let v):
          if float && !Float(v).isFinite { return (col + "does not fit in a Float", text(cell)) }
          return nil
        case .invalid:
          return cell.isEmpty ? (col + "an empty cell is not a number", nil) : (col + "not a number", text(cell))
        case .outOfRange: return (col + "out of the range of a Double", text(cell))
        }
      }
      func problem(_ r: Int) -> (String, String?)? {
        for f in 0..<p.dense.count {
          let c = columns.dense[f]
          let cell = cellBytes(storage, row: r, column: c)
          if denseMissing[f].find(cell) != nil { continue }
          if let m = numberProblem(cell, column: c, float: p.dense[f].normalize == .none) { return m }
        }
        for j in 0..<p.labels.count {
          let label = p.labels[j]
          let c = columns.labels[j]
          let col = "column `\(header[c])`: "
          switch labelReaders[j].read({ cellBytes(storage, row: r, column: $0) }) {
          case .value(let y):
            if case .value = label.rule, !Float(y).isFinite {
              return (col + "does not fit in a Float", text(cellBytes(storage, row: r, column: c)))
            }
          case .absent, .unseenClass: break
          case .missing(let empty):
            return empty
              ? (col + "empty label for task `\(label.task)`", nil)
              : (col + "missing label for task `\(label.task)`", text(cellBytes(storage, row: r, column: c)))
          case .notANumber(let nc, _):
            if let m = numberProblem(cellBytes(storage, row: r, column: nc), column: nc, float: false) { return m }
          }
        }
        return nil
      }
      for r in 0..<rowCount {
        if let (what, example) = problem(r) {
          if keep.isEmpty { keep = [Bool](repeating: true, count: rowCount) }
          keep[r] = false
          dropped += 1
          report.add(what, example: example, line: line(ofRow: r))
        }
      }
    }
    if dropped == 0 { return self }
    if dropped == rowCount && !allowNoneLeft { throw report.nothingLeft() }
    let c = columnCount
    var newSpans: [CellSpan] = []
    newSpans.reserveCapacity((rowCount - dropped) * c)
    var newLines: [Int32] = []
    newLines.reserveCapacity(rowCount - dropped)
    for r in 0..<rowCount where keep[r] {
      newSpans.append(contentsOf: spans[(r * c)..<((r + 1) * c)])
      newLines.append(lines[r])
    }
    return RawTable(
      path: path, header: header, storage: storage, spans: newSpans, lines: newLines,
      headerLine: headerLine, skipped: report)
  }
}
