// Splitting, fitting and encoding, the same way for every source: two passes over the train
// files' pieces (fit, then encode), each row's set decided by `DataSplit.part`, each set's
// examples appended in file order to a sink (memory or shards). A file read whole is one piece,
// so the in-memory loader and the streaming one are the same code and give the same examples.

import MTLGraph

/// The pieces of some data files, parsed and (under `skip`) without their bad rows; `pass()`
/// starts again from the first.
struct TableSource {
  /// The file named in errors about the whole set.
  let path: String
  let pass: () throws -> () throws -> RawTable?

  /// Tables already in memory (each file read whole), handed out again on every pass.
  static func tables(_ tables: [RawTable]) -> TableSource {
    TableSource(path: tables.first?.path ?? "") {
      var i = 0
      return {
        guard i < tables.count else { return nil }
        i += 1
        return tables[i - 1]
      }
    }
  }

  /// `files` read a piece at a time, parsed again on every pass.
  static func streamed(_ files: [String], _ p: Pipeline, chunkBytes: Int) -> TableSource {
    TableSource(path: files[0]) {
      let chunks = try RecordChunks(
        files: files, delimiter: p.delimiter, columns: p.columns, onBadRow: p.onBadRow, chunkBytes: chunkBytes)
      return {
        guard let t = try chunks.next() else { return nil }
        return p.onBadRow == .skip ? try t.droppingBadRows(for: p, allowNoneLeft: true) : t
      }
    }
  }
}

/// Where a set's encoded examples go, piece by piece, in order.
protocol ExampleSink {
  mutating func append(_ d: Dataset) throws
}

/// A set's examples held in memory.
struct MemorySink: ExampleSink {
  var data: Dataset?
  mutating func append(_ d: Dataset) throws {
    if data == nil { data = d } else { data!.append(d) }
  }
}

extension Dataset {
  /// `other`'s examples after this one's, and its counts added.
  mutating func append(_ other: Dataset) {
    precondition(
      other.sparseWidth == sparseWidth && other.denseWidth == denseWidth && other.labelWidth == labelWidth)
    count += other.count
    sparse += other.sparse
    dense += other.dense
    labels += other.labels
    rows += other.rows
    for i in missingCounts.indices { missingCounts[i] += other.missingCounts[i] }
    for i in unseenCounts.indices { unseenCounts[i] += other.unseenCounts[i] }
    for i in unseenClassCounts.indices { unseenClassCounts[i] += other.unseenClassCounts[i] }
    for i in truncatedCounts.indices { truncatedCounts[i] += other.truncatedCounts[i] }
  }

  /// An empty set for `p` (no rows).
  static func empty(_ p: Pipeline) -> Dataset {
    Dataset(
      count: 0, sparseWidth: p.idColumns, denseWidth: p.dense.count, labelWidth: p.labels.count, sparse: [],
      dense: [], labels: [], rows: [], missingCounts: Array(repeating: 0, count: p.sparse.count),
      unseenCounts: Array(repeating: 0, count: p.sparse.count))
  }
}

/// What a build made besides the examples.
struct BuildResult {
  var fitted: FittedPipeline
  /// What `skip` dropped, a report per file that lost rows.
  var trainSkipped: [SkipReport] = []
  var testSkipped: [SkipReport] = []
  var validationSkipped: [SkipReport] = []
}

enum DataBuild {
  /// Fits `p` on the train rows of `train` and encodes every set into its sink. With `test`, its
  /// rows test and the train files' rows do not; with `validation`, its rows validate; otherwise
  /// `DataSplit.part` picks each train-file row's set.
  static func run<S: ExampleSink>(
    _ p: Pipeline, train: TableSource, test: TableSource?, validation: TableSource?,
    trainSink: inout S, testSink: inout S, validationSink: inout S
  ) throws -> BuildResult {
    let testFraction = test == nil ? p.testFraction : 0
    if test == nil {
      guard p.testFraction >= 0 && p.testFraction < 1 else {
        throw DataError(path: train.path, message: "the test fraction must be in [0, 1), not \(p.testFraction)")
      }
    }
    let validationFraction = validation == nil ? p.validationFraction : 0
    if validation == nil && p.validationFraction > 0 {
      guard p.validationFraction < 1 && testFraction + p.validationFraction < 1 else {
        throw DataError(
          path: train.path,
          message: "the validation fraction must be in [0, 1) and leave training rows, not \(p.validationFraction)")
      }
    }
    func parts(_ t: RawTable, base: Int) -> (train: [Int], test: [Int], validation: [Int]) {
      var out: ([Int], [Int], [Int]) = ([], [], [])
      for r in 0..<t.rowCount {
        switch DataSplit.part(
          row: base + r, seed: p.splitSeed, testFraction: testFraction, validationFraction: validationFraction)
        {
        case .train: out.0.append(r)
        case .test: out.1.append(r)
        case .validation: out.2.append(r)
        }
      }
      return out
    }
    func merged(_ reports: inout [SkipReport], _ t: RawTable) {
      guard !t.skipped.isEmpty else { return }
      if reports.last?.path == t.skipped.path {
        reports[reports.count - 1].merge(t.skipped)
      } else {
        reports.append(t.skipped)
      }
    }

    // Pass 1: fit on the training rows.
    var acc = try FitAccumulator(p, path: train.path)
    var result = BuildResult(fitted: FittedPipeline(pipeline: p, sparse: [], dense: [], trainRowCount: 0))
    var next = try train.pass()
    var base = 0
    while let t = try next() {
      try acc.add(t, rows: parts(t, base: base).train)
      merged(&result.trainSkipped, t)
      base += t.rowCount
    }
    let fitted = try acc.finish()
    result.fitted = fitted

    // Pass 2: encode every row into its set.
    func encode(_ t: RawTable, _ rows: [Int], base: Int, into sink: inout S) throws {
      guard !rows.isEmpty else { return }
      var d = try fitted.encode(table: t, rows: rows)
      if base != 0 { d.rows = d.rows.map { $0 + base } }
      try sink.append(d)
    }
    next = try train.pass()
    base = 0
    while let t = try next() {
      let (tr, te, va) = parts(t, base: base)
      try encode(t, tr, base: base, into: &trainSink)
      try encode(t, te, base: base, into: &testSink)
      try encode(t, va, base: base, into: &validationSink)
      base += t.rowCount
    }
    for (source, isTest) in [(test, true), (validation, false)] {
      guard let source else { continue }
      next = try source.pass()
      base = 0
      var report: [SkipReport] = []
      while let t = try next() {
        if isTest {
          try encode(t, Array(0..<t.rowCount), base: base, into: &testSink)
        } else {
          try encode(t, Array(0..<t.rowCount), base: base, into: &validationSink)
        }
        merged(&report, t)
        base += t.rowCount
      }
      if isTest { result.testSkipped = report } else { result.validationSkipped = report }
    }
    return result
  }
}
