// Fitting the feature pipeline in one pass over the training rows, a piece of the data at a time.
//
// Memory is bounded by the vocabularies (the distinct values counted), never by the row count:
// dense and label statistics are running values (count, min, max, and Welford's mean and sum of
// squared deviations, in Double, updated row by row in file order). Because every update is a
// row's, in order, the result does not depend on how the rows are cut into pieces: a file read
// whole and the same file streamed give the same fitted pipeline, to the bit.

import MTLGraph

/// Welford's running mean and sum of squared deviations, with the count, min and max.
struct RunningStats {
  var count = 0
  var mean = 0.0
  var m2 = 0.0
  var min = Double.infinity
  var max = -Double.infinity

  @inline(__always)
  mutating func add(_ x: Double) {
    count += 1
    let delta = x - mean
    mean += delta / Double(count)
    m2 += delta * (x - mean)
    if x < min { min = x }
    if x > max { max = x }
  }

  /// The population standard deviation.
  var std: Double { count == 0 ? 0 : (m2 / Double(count)).squareRoot() }
}

/// What a pipeline's fit has seen so far: `add` the training rows of each piece of data in file
/// order, then `finish`.
public struct FitAccumulator {
  let p: Pipeline
  /// The first file, for errors about the whole fit.
  let path: String
  /// A feature that reads through another's table (`table`) counts into the owner's counter.
  let counterOf: [Int]
  var counters: [ValueCounter?]
  let separators: [UInt8?]
  let denseMissing: [ByteSet]
  var dense: [RunningStats]
  /// Per multiclass label learned from the data: its counter; nil for the others.
  var classCounters: [ValueCounter?]
  /// Per standardised label: its statistics; nil for the others.
  var labelStats: [RunningStats?]
  let labelMarkers: [String]
  var rows = 0

  public init(_ p: Pipeline, path: String) throws {
    try FittedPipeline.validate(p, path: path)
    self.p = p
    self.path = path
    let owner = p.sparse.map { f in f.table.flatMap { t in p.sparse.firstIndex { $0.name == t } } }
    counters = p.sparse.indices.map { i -> ValueCounter? in
      guard owner[i] == nil, case .learned = p.sparse[i].vocabulary else { return nil }
      var markers = p.sparse[i].missing
      for (j, o) in owner.enumerated() where o == i { markers += p.sparse[j].missing }
      return ValueCounter(missing: markers)
    }
    counterOf = p.sparse.indices.map { owner[$0] ?? $0 }
    separators = p.sparse.map { $0.multi.map { UInt8(ascii: Unicode.Scalar($0.separator.utf8.first!)) } }
    denseMissing = p.dense.map { markerSet($0.missing, withEmpty: false) }
    dense = Array(repeating: RunningStats(), count: p.dense.count)
    let markers = FittedPipeline(pipeline: p, sparse: [], dense: [], trainRowCount: 0).labelMissingMarkers
    labelMarkers = markers
    classCounters = p.labels.map { l in
      if case .learnedClasses = l.rule { return ValueCounter(missing: markers) }
      return nil
    }
    labelStats = p.labels.map { $0.normalize != nil ? RunningStats() : nil }
  }

  /// Counts `rows` (0-based rows of `table`, ascending) into the fit.
  public mutating func add(_ table: RawTable, rows: [Int]) throws {
    let columns = try FittedPipeline.requiredColumns(p, table: table)
    for r in rows { precondition(r >= 0 && r < table.rowCount, "row \(r) out of range") }
    self.rows += rows.count
    let p = p
    try table.storage.withUnsafeBufferPointer { storage in
      // Features first, then each label over the rows, as errors have always been found.
      for r in rows {
        for f in 0..<p.sparse.count where counters[counterOf[f]] != nil {
          let cell = table.cellBytes(storage, row: r, column: columns.sparse[f])
          if let sep = separators[f] {
            cell.forEachValue(separator: sep) { counters[counterOf[f]]!.add($0) }
          } else {
            counters[counterOf[f]]!.add(cell)
          }
        }
        for f in 0..<p.dense.count {
          let cell = table.cellBytes(storage, row: r, column: columns.dense[f])
          if denseMissing[f].find(cell) != nil { continue }
          dense[f].add(try table.number(cell, row: r, column: columns.dense[f]))
        }
      }
      for (j, l) in p.labels.enumerated() where classCounters[j] != nil {
        // Unknown classes read as unseen: count the cells of exactly those (scored) rows.
        let reader = LabelReader(
          l, column: columns.labels[j], spaceColumn: columns.spaces[j], missing: labelMarkers, classes: nil)
        for r in rows {
          let o = reader.read { table.cellBytes(storage, row: r, column: $0) }
          if o == .unseenClass {
            classCounters[j]!.add(table.cellBytes(storage, row: r, column: columns.labels[j]))
          } else {
            _ = try table.label(o, row: r, task: l.task, column: columns.labels[j])
          }
        }
      }
      for (j, l) in p.labels.enumerated() where labelStats[j] != nil {
        let reader = LabelReader(
          l, column: columns.labels[j], spaceColumn: columns.spaces[j], missing: labelMarkers, classes: nil)
        for r in rows {
          let o = reader.read { table.cellBytes(storage, row: r, column: $0) }
          if let y = try table.label(o, row: r, task: l.task, column: columns.labels[j]) { labelStats[j]!.add(y) }
        }
      }
    }
  }

  /// The fitted pipeline, or a DataError when there was nothing to fit on or a statistic
  /// overflowed.
  public func finish() throws -> FittedPipeline {
    guard rows > 0 else {
      throw DataError(path: path, message: "no training rows to fit the feature pipeline on")
    }
    var sparse: [FittedSparse] = []
    for (f, feature) in p.sparse.enumerated() {
      var values: [String] = []
      var buckets: Int? = nil
      switch feature.vocabulary {
      case .learned(let minCount, let maxSize):
        values = counters[counterOf[f]]!.vocabulary(minCount: minCount, maxSize: maxSize)
      case .fixed(let list): values = list
      case .hashed(let b): buckets = b
      }
      sparse.append(
        FittedSparse(
          name: feature.name, column: feature.column, missing: feature.missing, values: values, hashBuckets: buckets))
    }
    var dense: [FittedDense] = []
    for (f, feature) in p.dense.enumerated() {
      let s = self.dense[f]
      var st = FittedDense(
        name: feature.name, column: feature.column, normalize: feature.normalize, missing: feature.missing,
        count: s.count, min: 0, max: 0, mean: 0, std: 0)
      if s.count > 0 {
        (st.min, st.max, st.mean, st.std) = (s.min, s.max, s.mean, s.std)
        if !(st.mean.isFinite && st.std.isFinite) {
          throw DataError(
            path: path, column: feature.column,
            message:
              "the values of dense feature `\(feature.name)` are too large for their mean and std to be computed")
        }
      }
      dense.append(st)
    }
    var fitted = FittedPipeline(pipeline: p, sparse: sparse, dense: dense, trainRowCount: rows)
    var classes: [FittedClasses] = []
    for (j, l) in p.labels.enumerated() where l.isMulticlass {
      if case .classes(let fixed) = l.rule {
        classes.append(FittedClasses(task: l.task, values: fixed))
        continue
      }
      let values = classCounters[j]!.vocabulary(minCount: 1)
      guard values.count >= 2 else {
        throw DataError(
          path: path, column: l.column,
          message:
            "multiclass task `\(l.task)` has \(values.count) class\(values.count == 1 ? "" : "es") on the training rows\(values.first.map { " (`\($0)`)" } ?? ""); it needs at least two"
        )
      }
      guard values.count <= GraphLimits.maxClasses else {
        throw DataError(
          path: path, column: l.column,
          message:
            "multiclass task `\(l.task)` has \(values.count) classes on the training rows, over the limit of \(GraphLimits.maxClasses)"
        )
      }
      classes.append(FittedClasses(task: l.task, values: values))
    }
    fitted.classes = classes.isEmpty ? nil : classes
    var labels: [FittedLabel] = []
    for (j, l) in p.labels.enumerated() {
      guard let s = labelStats[j] else { continue }
      let (mean, std) = (s.mean, s.std)
      guard mean.isFinite && std.isFinite else {
        throw DataError(
          path: path, column: l.column,
          message: "the labels of task `\(l.task)` are too large for their mean and std to be computed")
      }
      labels.append(FittedLabel(task: l.task, count: s.count, mean: mean, std: std > 0 ? std : 1))
    }
    fitted.labels = labels.isEmpty ? nil : labels
    return fitted
  }
}
