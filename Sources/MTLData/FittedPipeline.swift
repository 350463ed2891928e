// Fitting the feature pipeline on the training rows: vocabularies and dense statistics.
//
// Sparse features. Embedding row 0 is shared by missing values (the feature's `missing` markers
// and the empty cell) and by values not in the vocabulary (unseen in training, or below
// `minCount`); rows 1...n are the vocabulary:
// - `learned(minCount)`: the distinct non-missing training values seen at least minCount times,
//   sorted by UTF-8 byte order;
// - `fixed(list)`: the list, in its order (a value that is also a missing marker maps to row 0);
// - `hashed(buckets)`: row 1 + fnv1a64(UTF-8 bytes) % buckets; no value list.
//
// Dense features. Cells are strict decimal numbers (see `parseNumber`); a cell equal to one of
// the feature's `missing` markers is missing (an empty cell is an error unless "" is a marker).
// Statistics (min, max, mean, population std) are over the non-missing training values. A missing
// value encodes as 0 after normalization: the min for minmax, the mean for standard, 0 for log
// and none.
//
// Labels (Labels.swift). `positive(set)`: 1 when the cell is in the set, else 0; `threshold(t)`: 1
// when the number is greater than t, else 0; `value`: the number; `classes`: the class index. A
// label cell that is empty, or equal to any `missing` marker declared by a feature of the
// pipeline, is an error unless `missing: mask` (LabelColumn has no marker list of its own), as is
// a non-numeric cell under `threshold` or `value`. A row outside the task's sample space, or
// with a masked or unseen label, is not scored (NaN). A standardised label's mean and std are
// fitted on the scored training rows.

import MTLGraph

#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

/// A sparse feature with its vocabulary fixed.
public struct FittedSparse: Codable, Equatable, Sendable {
  public var name: String
  public var column: String
  public var missing: [String]
  /// The vocabulary: `values[i]` is embedding row i + 1. Empty for hashed features.
  public var values: [String]
  /// The bucket count of a hashed feature; nil otherwise.
  public var hashBuckets: Int?
  /// Embedding table rows: 1 (missing and unseen) + the vocabulary size or bucket count.
  public var tableRows: Int

  public init(name: String, column: String, missing: [String], values: [String], hashBuckets: Int?) {
    self.name = name
    self.column = column
    self.missing = missing
    self.values = values
    self.hashBuckets = hashBuckets
    self.tableRows = 1 + (hashBuckets ?? values.count)
  }
}

/// A dense feature with its training statistics.
public struct FittedDense: Codable, Equatable, Sendable {
  public var name: String
  public var column: String
  public var normalize: Normalization
  public var missing: [String]
  /// Non-missing training values the statistics are over (0 leaves all statistics 0).
  public var count: Int
  public var min: Double
  public var max: Double
  public var mean: Double
  /// Population standard deviation.
  public var std: Double

  /// The normalized value of `x`; 0 for a missing value.
  public func transform(_ x: Double?) -> Double {
    guard let x else { return 0 }
    switch normalize {
    case .none: return x
    case .minmax: return max > min ? (x - min) / (max - min) : 0
    case .standard: return std > 0 ? (x - mean) / std : 0
    case .log: return log1p(Swift.max(x, 0))
    }
  }
}

/// A pipeline fitted on training rows: all that encoding any table needs. Saved with checkpoints.
public struct FittedPipeline: Codable, Equatable, Sendable {
  public var pipeline: Pipeline
  /// In `pipeline.sparse` order.
  public var sparse: [FittedSparse]
  /// In `pipeline.dense` order.
  public var dense: [FittedDense]
  /// How many training rows the pipeline was fitted on.
  public var trainRowCount: Int
  /// The statistics of every label with `normalize: standard` (nil when there is none, and then
  /// absent from checkpoints and cache entries, which stay as they were).
  public var labels: [FittedLabel]?

  /// The classes of every multiclass label, in label order (nil when there is none, and then
  /// absent from checkpoints and cache entries).
  public var classes: [FittedClasses]?

  /// The statistics of task `task`'s label when it is standardised.
  public func labelScale(_ task: String) -> FittedLabel? { labels?.first { $0.task == task } }

  /// Task name -> its classes, for every multiclass task.
  public var classLists: [String: [String]] {
    Dictionary((classes ?? []).map { ($0.task, $0.values) }, uniquingKeysWith: { a, _ in a })
  }

  /// `graph` with its learned shapes bound: embedding rows from the vocabularies, multiclass
  /// widths from the classes.
  public func bind(_ graph: Graph) -> Graph { graph.bound(vocabularyRows: vocabularySizes, classes: classLists) }

  /// Feature name -> embedding table rows (vocabulary size + 1).
  public var vocabularySizes: [String: Int] {
    Dictionary(sparse.map { ($0.name, $0.tableRows) }, uniquingKeysWith: { a, _ in a })
  }

  /// The same vocabularies, statistics and feature pipeline, wherever the data files were.
  public func sameFit(as other: FittedPipeline) -> Bool {
    var a = self
    var b = other
    (a.pipeline.train, a.pipeline.test, b.pipeline.train, b.pipeline.test) = ("", nil, "", nil)
    (a.pipeline.validation, b.pipeline.validation) = (
      a.pipeline.validation.map { _ in "" }, b.pipeline.validation.map { _ in "" }
    )
    // Memory or shards: the same examples either way.
    (a.pipeline.streaming, b.pipeline.streaming) = (nil, nil)
    return a == b
  }

  /// Consistency a damaged or hostile checkpoint could break (a fitted pipeline is read back from
  /// one): every fitted feature matches its pipeline feature, and every table row count is what
  /// its vocabulary implies, so nothing sized from it can be inflated. nil when sound.
  public func check() -> String? {
    if let p = pipeline.check() { return "\(p)" }
    guard sparse.count == pipeline.sparse.count, dense.count == pipeline.dense.count, trainRowCount >= 0 else {
      return
        "it has \(sparse.count) sparse and \(dense.count) dense features for a pipeline of \(pipeline.sparse.count) and \(pipeline.dense.count)"
    }
    for (f, s) in zip(sparse, pipeline.sparse) {
      guard f.name == s.name, f.column == s.column else { return "sparse feature `\(f.name)` is out of place" }
      let buckets: Int?
      if case .hashed(let b) = s.vocabulary { buckets = b } else { buckets = nil }
      // A fixed vocabulary is the spec's list: ids index the table the graph sized from it.
      if case .fixed(let list) = s.vocabulary, f.values != list {
        return "sparse feature `\(f.name)` has a vocabulary other than its fixed list"
      }
      guard f.hashBuckets == buckets, buckets == nil || f.values.isEmpty,
        f.tableRows == 1 + (buckets ?? f.values.count)
      else { return "sparse feature `\(f.name)` claims \(f.tableRows) table rows for its vocabulary" }
      // A shared table has one vocabulary: the ids of both features index the same rows.
      if let t = s.table, sparse.first(where: { $0.name == t })?.values != f.values {
        return "sparse feature `\(f.name)` has a vocabulary other than `\(t)`'s, whose table it shares"
      }
    }
    let normalized = pipeline.labels.filter { $0.normalize != nil }.map(\.task)
    guard (labels ?? []).map(\.task) == normalized else {
      return "its label statistics are not those of the pipeline's standardised labels"
    }
    for l in labels ?? [] where !(l.count >= 0 && l.mean.isFinite && l.std.isFinite && l.std > 0) {
      return "the statistics of the label of task `\(l.task)` are not finite"
    }
    let multiclass = pipeline.labels.filter(\.isMulticlass)
    guard (classes ?? []).map(\.task) == multiclass.map(\.task) else {
      return "its classes are not those of the pipeline's multiclass labels"
    }
    for (c, l) in zip(classes ?? [], multiclass) {
      guard (2...GraphLimits.maxClasses).contains(c.values.count), Set(c.values).count == c.values.count else {
        return "task `\(c.task)` has \(c.values.count) classes (2...\(GraphLimits.maxClasses) distinct ones allowed)"
      }
      if case .classes(let fixed) = l.rule, fixed != c.values {
        return "task `\(c.task)` has classes other than its fixed list"
      }
    }
    for (f, d) in zip(dense, pipeline.dense) {
      guard f.name == d.name, f.column == d.column, f.normalize == d.normalize else {
        return "dense feature `\(f.name)` is out of place"
      }
      guard f.count >= 0, [f.min, f.max, f.mean, f.std].allSatisfy(\.isFinite), f.std >= 0 else {
        return "dense feature `\(f.name)` has statistics that are not finite"
      }
    }
    return nil
  }

  /// The labels' cell values counted as missing: "" and every feature's `missing` markers.
  var labelMissingMarkers: [String] {
    var out = [""]
    for m in pipeline.sparse.flatMap(\.missing) + pipeline.dense.flatMap(\.missing)
    where !out.contains(m) {
      out.append(m)
    }
    return out
  }

  /// Fits vocabularies and statistics on `rows` (0-based data rows) of `table`: a `FitAccumulator`
  /// given the one table.
  public static func fit(_ p: Pipeline, table: RawTable, rows: [Int]) throws -> FittedPipeline {
    var acc = try FitAccumulator(p, path: table.path)
    try acc.add(table, rows: rows)
    return try acc.finish()
  }
  /// Checks the parts of a pipeline the data stage relies on (the compiler checks them too).
  static func validate(_ p: Pipeline, path: String) throws {
    _ = try RawTable.delimiterByte(p.delimiter, path: path)
    var names: Set<String> = []
    for f in p.sparse {
      guard names.insert(f.name).inserted else {
        throw DataError(path: path, message: "two features are named `\(f.name)`")
      }
      switch f.vocabulary {
      case .learned(let minCount, let maxSize) where minCount < 1 || (maxSize ?? 1) < 1:
        throw DataError(
          path: path,
          message: "sparse feature `\(f.name)`: minCount must be at least 1, not \(minCount)")
      case .hashed(let buckets) where buckets < 1:
        throw DataError(
          path: path,
          message: "sparse feature `\(f.name)`: buckets must be at least 1, not \(buckets)")
      case .fixed(let list):
        var seen: Set<String> = []
        for v in list where !seen.insert(v).inserted {
          throw DataError(
            path: path,
            message: "sparse feature `\(f.name)`: \(quoted(v)) is twice in the fixed vocabulary")
        }
      default: break
      }
    }
    for f in p.dense {
      guard names.insert(f.name).inserted else {
        throw DataError(path: path, message: "two features are named `\(f.name)`")
      }
    }
  }

  /// Column indices of every feature and label, or a DataError for the first one absent.
  static func requiredColumns(_ p: Pipeline, table: RawTable) throws -> (
    sparse: [Int], dense: [Int], labels: [Int], spaces: [Int?]
  ) {
    (
      try p.sparse.map {
        try table.requireColumn($0.column, usedBy: "sparse feature `\($0.name)`")
      },
      try p.dense.map { try table.requireColumn($0.column, usedBy: "dense feature `\($0.name)`") },
      try p.labels.map {
        try table.requireColumn($0.column, usedBy: "the labels of task `\($0.task)`")
      },
      try p.labels.map { l in
        try l.space.map { try table.requireColumn($0.column, usedBy: "the sample space (`where`) of task `\(l.task)`") }
      }
    )
  }
}

/// Counts the distinct non-missing values of a column.
struct ValueCounter {
  /// Keys 0..<markers are the missing markers (and ""); counts[k - markers] counts key k.
  var seen: ByteSet
  let markers: Int
  var counts: [Int] = []

  init(missing: [String]) {
    seen = markerSet(missing, withEmpty: true)
    markers = seen.count
  }

  @inline(__always)
  mutating func add(_ cell: UnsafeBufferPointer<UInt8>) {
    let (k, inserted) = seen.insert(cell)
    if k < markers { return }
    if inserted { counts.append(0) }
    counts[k - markers] += 1
  }

  /// The values seen at least `minCount` times, sorted by bytes; with `maxSize`, the `maxSize`
  /// most frequent of them, a tie at the cut going to the values first in byte order.
  func vocabulary(minCount: Int, maxSize: Int? = nil) -> [String] {
    var keys: [(bytes: [UInt8], count: Int)] = []
    for k in markers..<seen.count where counts[k - markers] >= minCount {
      keys.append((seen.key(k), counts[k - markers]))
    }
    if let maxSize, keys.count > maxSize {
      keys.sort { $0.count != $1.count ? $0.count > $1.count : $0.bytes.lexicographicallyPrecedes($1.bytes) }
      keys.removeSubrange(maxSize...)
    }
    keys.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    return keys.map { String(decoding: $0.bytes, as: UTF8.self) }
  }
}

/// A set of marker strings, with the empty string in it when `withEmpty`.
func markerSet(_ markers: [String], withEmpty: Bool) -> ByteSet {
  var s = ByteSet()
  if withEmpty { s.insert([UInt8]()) }
  for m in markers { s.insert(Array(m.utf8)) }
  return s
}

extension RawTable {
  @inline(__always)
  func cellBytes(_ storage: UnsafeBufferPointer<UInt8>, row: Int, column: Int)
    -> UnsafeBufferPointer<UInt8>
  {
    let s = spans[row &* header.count &+ column]
    return UnsafeBufferPointer(rebasing: storage[Int(s.start)..<Int(s.end)])
  }

  /// The number in a cell, or a DataError naming the cell and its text.
  func number(_ cell: UnsafeBufferPointer<UInt8>, row: Int, column: Int) throws -> Double {
    switch parseNumber(cell) {
    case .number(let v): return v
    case .invalid:
      let text = String(decoding: cell, as: UTF8.self)
      let what =
        text.isEmpty
        ? "an empty cell is not a number (list \"\" in the feature's `missing` to treat it as missing)"
        : "\(quoted(text)) is not a number"
      throw DataError(path: path, row: line(ofRow: row), column: header[column], message: what)
    case .outOfRange:
      throw DataError(
        path: path, row: line(ofRow: row), column: header[column],
        message: "\(quoted(String(decoding: cell, as: UTF8.self))) is out of the range of a Double")
    }
  }
}
