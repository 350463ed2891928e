// Encoding table rows into model inputs, and copying batches out of them.
//
// Dimension letters: N examples, S sparse features, D dense features, L label columns (tasks with
// labels), B a batch.

import Foundation
import MTLGraph
import MTLSupport

/// Encoded examples, row-major.
public struct Dataset: Equatable, Sendable {
  public var count: Int
  /// Id columns per example (`pipeline.idColumns`: one per single-valued sparse feature,
  /// `maxLength` per multi-valued one).
  public var sparseWidth: Int
  /// D: dense features per example.
  public var denseWidth: Int
  /// L: labels per example (`pipeline.labels.count`).
  public var labelWidth: Int
  /// Embedding rows; -1 pads a multi-valued feature's bag. [N, idColumns]
  public var sparse: [Int32]
  /// Normalized values, all finite. [N, D]
  public var dense: [Float]
  /// 0/1 for binary rules, the number for `value` (standardised under `normalize: standard`),
  /// the class index for `classes`; NaN where the row is not scored for the task (outside its
  /// sample space, a masked missing label, an unseen class). [N, L]
  public var labels: [Float]
  /// The table row (0-based) each example came from (under `onBadRow: .skip`, of the rows left
  /// once bad rows are dropped). [N]
  public var rows: [Int]
  /// Per sparse feature: examples whose cell was missing (row 0). [S]
  public var missingCounts: [Int]
  /// Per sparse feature: examples whose value is not in the vocabulary (row 0 too). [S]
  public var unseenCounts: [Int]
  /// Per label: examples whose class is not one of the task's classes (not scored). [L]
  public var unseenClassCounts: [Int]
  /// Per sparse feature: values of multi-valued cells past `maxLength`, left out. [S]
  public var truncatedCounts: [Int]

  public init(
    count: Int, sparseWidth: Int, denseWidth: Int, labelWidth: Int, sparse: [Int32], dense: [Float],
    labels: [Float],
    rows: [Int], missingCounts: [Int], unseenCounts: [Int], unseenClassCounts: [Int]? = nil,
    truncatedCounts: [Int]? = nil
  ) {
    precondition(sparse.count == count * sparseWidth && dense.count == count * denseWidth)
    precondition(labels.count == count * labelWidth && rows.count == count)
    self.count = count
    self.sparseWidth = sparseWidth
    self.denseWidth = denseWidth
    self.labelWidth = labelWidth
    self.sparse = sparse
    self.dense = dense
    self.labels = labels
    self.rows = rows
    self.missingCounts = missingCounts
    self.unseenCounts = unseenCounts
    self.unseenClassCounts = unseenClassCounts ?? [Int](repeating: 0, count: labelWidth)
    self.truncatedCounts = truncatedCounts ?? [Int](repeating: 0, count: missingCounts.count)
  }

  /// What the kernels would index with, out of range for `fitted` (a cache entry is read back, not
  /// re-encoded): a sparse id outside its table's rows, or a class label that is neither NaN nor a
  /// class index of its task. nil when every one is in range.
  public func indexProblem(_ fitted: FittedPipeline) -> String? {
    // Per id column: its feature, the table rows its ids index, and whether -1 (a bag's padding) is allowed.
    var feature: [Int] = []
    for (f, s) in fitted.pipeline.sparse.enumerated() { feature += Array(repeating: f, count: s.multi?.maxLength ?? 1) }
    guard feature.count == sparseWidth, fitted.sparse.count == fitted.pipeline.sparse.count else {
      return "it has \(sparseWidth) sparse columns for \(feature.count) id columns of the features"
    }
    let rows = fitted.sparse.map(\.tableRows)
    let padded = fitted.pipeline.sparse.map { $0.multi != nil }
    for (i, id) in sparse.enumerated() {
      let f = feature[i % sparseWidth]
      if id == -1 && padded[f] { continue }
      if id < 0 || Int(id) >= rows[f] {
        return "sparse id \(id) of feature `\(fitted.sparse[f].name)` is outside its \(rows[f]) rows"
      }
    }
    let classes = fitted.classLists
    for (j, l) in fitted.pipeline.labels.enumerated() where j < labelWidth && l.isMulticlass {
      let k = Float(classes[l.task]?.count ?? 0)
      for r in 0..<count {
        let y = labels[r * labelWidth + j]
        if !(y.isNaN || (y >= 0 && y < k && y.rounded(.down) == y)) {
          return "class label \(y) of task `\(l.task)` is not one of its \(Int(k)) classes"
        }
      }
    }
    return nil
  }

  /// Label `j` of every example, in order. [N]
  public func labelColumn(_ j: Int) -> [Float] { (0..<count).map { labels[$0 * labelWidth + j] } }

  /// Copies examples `indices` (0-based, into this dataset) into batch buffers of
  /// [B, S], [B, D] and [B, L] elements, B = indices.count. Allocates nothing.
  public func gather(
    indices: ArraySlice<Int>, into sparseOut: UnsafeMutablePointer<Int32>,
    dense denseOut: UnsafeMutablePointer<Float>,
    labels labelsOut: UnsafeMutablePointer<Float>
  ) {
    let s = sparseWidth
    let d = denseWidth
    let l = labelWidth
    sparse.withUnsafeBufferPointer { sp in
      dense.withUnsafeBufferPointer { dp in
        labels.withUnsafeBufferPointer { lp in
          var b = 0
          for i in indices {
            precondition(i >= 0 && i < count, "example \(i) out of range 0..<\(count)")
            (sparseOut + b * s).update(from: sp.baseAddress! + i * s, count: s)
            (denseOut + b * d).update(from: dp.baseAddress! + i * d, count: d)
            (labelsOut + b * l).update(from: lp.baseAddress! + i * l, count: l)
            b += 1
          }
        }
      }
    }
  }
}

/// Cell -> embedding row for one sparse feature.
struct SparseLookup {
  /// Keys 0..<markers are the missing markers (and ""); key k >= markers is a vocabulary value.
  var keys: ByteSet
  var markers: Int
  /// The embedding row of key k, at k - markers.
  var rowOf: [Int32] = []
  /// Bucket count of a hashed feature, else 0.
  var buckets: UInt64

  init(_ feature: FittedSparse) {
    keys = markerSet(feature.missing, withEmpty: true)
    markers = keys.count
    // A fixed value that is also a missing marker is not inserted: missing wins.
    for (i, v) in feature.values.enumerated() where keys.insert(Array(v.utf8)).inserted {
      rowOf.append(Int32(i + 1))
    }
    buckets = UInt64(feature.hashBuckets ?? 0)
  }

  /// The row of `cell`: nil when missing, 0 when unseen.
  @inline(__always)
  func row(_ cell: UnsafeBufferPointer<UInt8>) -> Int32? {
    if let k = keys.find(cell) { return k < markers ? nil : rowOf[k - markers] }
    if buckets > 0 { return Int32(truncatingIfNeeded: 1 + Checksum.fnv1a64(cell) % buckets) }
    return 0
  }
}

extension UnsafeBufferPointer where Element == UInt8 {
  /// Each piece of the cell between `separator` bytes, in order (empty pieces included).
  @inline(__always)
  func forEachValue(separator: UInt8, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
    var start = 0
    for i in 0...count where i == count || self[i] == separator {
      try body(UnsafeBufferPointer(rebasing: self[start..<i]))
      start = i + 1
    }
  }
}

extension FittedPipeline {
  /// Encodes `rows` (0-based data rows) of `table`, which needs every column the pipeline reads
  /// (a DataError names the first absent one). Without `labels`, label columns are neither needed
  /// nor read, and the dataset has no labels (for prediction).
  public func encode(table: RawTable, rows: [Int], labels withLabels: Bool = true) throws -> Dataset {
    var p = pipeline
    if !withLabels { p.labels = [] }
    let columns = try FittedPipeline.requiredColumns(p, table: table)
    for r in rows { precondition(r >= 0 && r < table.rowCount, "row \(r) out of range") }
    let n = rows.count
    let s = p.sparse.count
    let w = p.idColumns
    let offsets = p.idOffsets
    let d = p.dense.count
    let l = p.labels.count
    // The encoded arrays are held in memory: refuse what cannot fit rather than be killed.
    let bytes = Double(n) * Double(w + d + l + 2) * 4
    let budget = Double(ProcessInfo.processInfo.physicalMemory) / 2
    guard bytes <= budget else {
      throw DataError(
        path: table.path,
        message:
          "encoding \(n) rows of \(w) sparse ids, \(d) dense values and \(l) labels needs \(Int(bytes / 1e9)) GB, over half this machine's memory"
      )
    }
    var sparseOut = [Int32](repeating: 0, count: n * w)  // [N, idColumns]
    var denseOut = [Float](repeating: 0, count: n * d)  // [N, D]
    var labelsOut = [Float](repeating: 0, count: n * l)  // [N, L]
    var missingCounts = [Int](repeating: 0, count: s)
    var unseenCounts = [Int](repeating: 0, count: s)
    var truncatedCounts = [Int](repeating: 0, count: s)
    let separators = p.sparse.map { $0.multi.map { UInt8(ascii: Unicode.Scalar($0.separator.utf8.first!)) } }

    let sparseLookups = sparse.map(SparseLookup.init)
    let denseMissing = dense.map { markerSet($0.missing, withEmpty: false) }
    let labelReaders = labelReaders(p, columns)
    let labelStats = p.labels.map { l in self.labels?.first { $0.task == l.task } }
    var unseenClasses = [Int](repeating: 0, count: l)

    // Row by row, so that each row's bytes are read from memory once.
    try table.storage.withUnsafeBufferPointer { storage in
      for (k, r) in rows.enumerated() {
        for f in 0..<s {
          let cell = table.cellBytes(storage, row: r, column: columns.sparse[f])
          let at = k * w + offsets[f]
          if let sep = separators[f], let m = p.sparse[f].multi {
            // A bag: the first maxLength values of the cell (empty ones and missing markers
            // skipped), each its row, or -1 (left out of the pooling) when unseen; -1 pads the
            // rest. Values past maxLength are counted.
            var used = 0
            cell.forEachValue(separator: sep) { v in
              guard let id = sparseLookups[f].row(v) else { return }
              guard used < m.maxLength else {
                truncatedCounts[f] += 1
                return
              }
              if id == 0 { unseenCounts[f] += 1 }
              sparseOut[at + used] = id == 0 ? -1 : id
              used += 1
            }
            if used == 0 { missingCounts[f] += 1 }
            for j in used..<m.maxLength { sparseOut[at + j] = -1 }
          } else if let id = sparseLookups[f].row(cell) {
            sparseOut[at] = id
            if id == 0 { unseenCounts[f] += 1 }
          } else {
            missingCounts[f] += 1
          }
        }
        for f in 0..<d {
          let c = columns.dense[f]
          let cell = table.cellBytes(storage, row: r, column: c)
          let x: Double? =
            denseMissing[f].find(cell) != nil ? nil : try table.number(cell, row: r, column: c)
          let y = Float(dense[f].transform(x))
          guard y.isFinite else {
            throw DataError(
              path: table.path, row: table.line(ofRow: r), column: table.header[c],
              message:
                "\(quoted(String(decoding: cell, as: UTF8.self))) does not fit in a Float after \(dense[f].normalize.rawValue) normalization"
            )
          }
          denseOut[k * d + f] = y
        }
        for j in 0..<l {
          let outcome = labelReaders[j].read { table.cellBytes(storage, row: r, column: $0) }
          if outcome == .unseenClass { unseenClasses[j] += 1 }
          guard var y = try table.label(outcome, row: r, task: p.labels[j].task, column: columns.labels[j]) else {
            labelsOut[k * l + j] = .nan
            continue
          }
          if let st = labelStats[j] { y = st.forward(y) }
          let yf = Float(y)
          guard yf.isFinite else {
            let c = columns.labels[j]
            throw DataError(
              path: table.path, row: table.line(ofRow: r), column: table.header[c],
              message:
                "\(quoted(String(decoding: table.cellBytes(storage, row: r, column: c), as: UTF8.self))) does not fit in a Float"
            )
          }
          labelsOut[k * l + j] = yf
        }
      }
    }
    return Dataset(
      count: n, sparseWidth: w, denseWidth: d, labelWidth: l, sparse: sparseOut, dense: denseOut,
      labels: labelsOut,
      rows: rows, missingCounts: missingCounts, unseenCounts: unseenCounts, unseenClassCounts: unseenClasses,
      truncatedCounts: truncatedCounts)
  }

  /// A reader per label of `p`, with the columns `requiredColumns` found.
  func labelReaders(_ p: Pipeline, _ columns: (sparse: [Int], dense: [Int], labels: [Int], spaces: [Int?]))
    -> [LabelReader]
  {
    let lists = classLists
    return p.labels.indices.map {
      LabelReader(
        p.labels[$0], column: columns.labels[$0], spaceColumn: columns.spaces[$0], missing: labelMissingMarkers,
        classes: lists[p.labels[$0].task])
    }
  }
}

extension RawTable {
  /// The value of a label outcome: nil when the row is not scored, a DataError naming the row
  /// and column for a missing label (under `missing: error`) or a cell that is not a number.
  func label(_ o: LabelReader.Outcome, row r: Int, task: String, column labelColumn: Int) throws -> Double? {
    switch o {
    case .value(let y): return y
    case .absent, .unseenClass: return nil
    case .missing(let empty):
      let what = empty ? "the label is empty" : "the label is missing (\(quoted(cell(row: r, column: labelColumn))))"
      throw DataError(
        path: path, row: line(ofRow: r), column: header[labelColumn],
        message:
          "\(what); every example needs a label for task `\(task)`")
    case .notANumber(let c, let n):
      let cell = self.cell(row: r, column: c)
      let what =
        n == .outOfRange
        ? "\(quoted(cell)) is out of the range of a Double"
        : cell.isEmpty ? "an empty cell is not a number" : "\(quoted(cell)) is not a number"
      throw DataError(path: path, row: line(ofRow: r), column: header[c], message: what)
    }
  }
}
