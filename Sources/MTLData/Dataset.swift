// Encoding table rows into model inputs, and copying batches out of them.
//
// Dimension letters: N examples, S sparse features, D dense features, L label columns (tasks with
// labels), B a batch.

import MTLGraph
import MTLSupport

/// Encoded examples, row-major.
public struct Dataset: Equatable, Sendable {
  public var count: Int
  /// S: sparse features per example (`pipeline.sparse.count`).
  public var sparseWidth: Int
  /// D: dense features per example.
  public var denseWidth: Int
  /// L: labels per example (`pipeline.labels.count`).
  public var labelWidth: Int
  /// Embedding rows. [N, S]
  public var sparse: [Int32]
  /// Normalized values, all finite. [N, D]
  public var dense: [Float]
  /// 0/1 for classification rules, the number for `value`. [N, L]
  public var labels: [Float]
  /// The table row (0-based) each example came from (under `onBadRow: .skip`, of the rows left
  /// once bad rows are dropped). [N]
  public var rows: [Int]
  /// Per sparse feature: examples whose cell was missing (row 0). [S]
  public var missingCounts: [Int]
  /// Per sparse feature: examples whose value is not in the vocabulary (row 0 too). [S]
  public var unseenCounts: [Int]

  public init(
    count: Int, sparseWidth: Int, denseWidth: Int, labelWidth: Int, sparse: [Int32], dense: [Float],
    labels: [Float],
    rows: [Int], missingCounts: [Int], unseenCounts: [Int]
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
  }

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

/// Cell -> label for one label column.
struct LabelLookup {
  /// Keys 0..<markers are the missing markers (and ""); the rest are the positive values.
  var keys: ByteSet
  var markers: Int

  init(_ label: LabelColumn, missing: [String]) {
    keys = markerSet(missing, withEmpty: true)
    markers = keys.count
    if case .positive(let set) = label.rule { for v in set { keys.insert(Array(v.utf8)) } }
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
    let d = p.dense.count
    let l = p.labels.count
    var sparseOut = [Int32](repeating: 0, count: n * s)  // [N, S]
    var denseOut = [Float](repeating: 0, count: n * d)  // [N, D]
    var labelsOut = [Float](repeating: 0, count: n * l)  // [N, L]
    var missingCounts = [Int](repeating: 0, count: s)
    var unseenCounts = [Int](repeating: 0, count: s)

    let sparseLookups = sparse.map(SparseLookup.init)
    let denseMissing = dense.map { markerSet($0.missing, withEmpty: false) }
    let labelLookups = p.labels.map { LabelLookup($0, missing: labelMissingMarkers) }

    // Row by row, so that each row's bytes are read from memory once.
    try table.storage.withUnsafeBufferPointer { storage in
      for (k, r) in rows.enumerated() {
        for f in 0..<s {
          let cell = table.cellBytes(storage, row: r, column: columns.sparse[f])
          if let id = sparseLookups[f].row(cell) {
            sparseOut[k * s + f] = id
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
          let c = columns.labels[j]
          let cell = table.cellBytes(storage, row: r, column: c)
          labelsOut[k * l + j] = try labelValue(
            cell, row: r, column: c, label: p.labels[j], lookup: labelLookups[j], table: table)
        }
      }
    }
    return Dataset(
      count: n, sparseWidth: s, denseWidth: d, labelWidth: l, sparse: sparseOut, dense: denseOut,
      labels: labelsOut,
      rows: rows, missingCounts: missingCounts, unseenCounts: unseenCounts)
  }

  @inline(__always)
  private func labelValue(
    _ cell: UnsafeBufferPointer<UInt8>, row r: Int, column c: Int, label: LabelColumn,
    lookup: LabelLookup, table: RawTable
  ) throws -> Float {
    let key = lookup.keys.find(cell)
    if let key, key < lookup.markers {
      let what =
        cell.isEmpty
        ? "the label is empty"
        : "the label is missing (\(quoted(String(decoding: cell, as: UTF8.self))))"
      throw DataError(
        path: table.path, row: table.line(ofRow: r), column: table.header[c],
        message: "\(what); every example needs a label for task `\(label.task)`")
    }
    switch label.rule {
    case .positive: return key != nil ? 1 : 0
    case .threshold(let t): return try table.number(cell, row: r, column: c) > t ? 1 : 0
    case .value:
      let y = Float(try table.number(cell, row: r, column: c))
      guard y.isFinite else {
        throw DataError(
          path: table.path, row: table.line(ofRow: r), column: table.header[c],
          message: "\(quoted(String(decoding: cell, as: UTF8.self))) does not fit in a Float")
      }
      return y
    }
  }
}
