// Target `csv`: the CSV reader (`RawTable.parse`) under both bad-row policies, with `,` and one
// other delimiter, then the data stage on what it read: dropping bad rows, fitting a feature
// pipeline derived from the table's header and first row, and encoding train and test rows with
// and without labels. Every step must throw `DataError` or succeed, and what succeeds must keep
// the promises of docs/spec.md, "Dirty data": no NUL in a cell and no line break outside quotes,
// no NaN reaching training, every sparse id inside its table, the same table from both policies
// when nothing is bad, and, once bad rows are skipped, only the file-level errors left. Seeds: the
// head of data/adult.csv and hand-made dirty files in fuzz/seeds/csv/; dictionary fuzz/csv.dict.
import MTLData
import MTLGraph

enum CSVTarget {
  /// The second delimiter, chosen by the input's length so each input always meets the same one.
  static let otherDelimiters = [";", "\t", " ", "|"]

  static func run(_ bytes: [UInt8]) {
    for delimiter in [",", otherDelimiters[bytes.count % otherDelimiters.count]] {
      let strict = parse(bytes, delimiter: delimiter, policy: .error)
      let lenient = parse(bytes, delimiter: delimiter, policy: .skip)
      if let strict {
        guard let lenient else { finding("a file that parses under `error` fails under `skip`") }
        if !sameTable(strict, lenient) { finding("a file without bad rows parses differently under `skip`") }
        if !lenient.skipped.isEmpty { finding("`skip` dropped rows from a file that has no bad rows") }
      }
      if let strict { exercise(strict, delimiter: delimiter, policy: .error) }
      if let lenient { exercise(lenient, delimiter: delimiter, policy: .skip) }
    }
  }

  static func parse(_ bytes: [UInt8], delimiter: String, policy: BadRowPolicy) -> RawTable? {
    let t: RawTable
    do { t = try RawTable.parse(bytes, path: "fuzz.csv", delimiter: delimiter, onBadRow: policy) } catch let e
      as DataError
    {
      check(e)
      return nil
    } catch {
      finding("RawTable.parse threw \(type(of: error)), not DataError: \(error)")
    }
    if t.header.isEmpty || t.rowCount < 1 { finding("a table without columns or rows parsed") }
    if Set(t.header).count != t.header.count { finding("a header naming a column twice parsed") }
    if policy == .error && !t.skipped.isEmpty { finding("rows were skipped under `error`") }
    if !t.skipped.isEmpty { _ = t.skipped.description }
    // A quoted field keeps its line breaks; without a quote in the file no cell holds one.
    let quoted = bytes.contains(UInt8(ascii: "\""))
    func bad(_ text: String) -> Bool {
      text.utf8.contains { $0 == 0 || (!quoted && ($0 == 0x0D || $0 == 0x0A)) }
    }
    var lastLine = 0
    for r in 0..<t.rowCount {
      let line = t.line(ofRow: r)
      if line <= lastLine || line < 2 { finding("row \(r) starts on line \(line), after line \(lastLine)") }
      lastLine = line
      for c in 0..<t.columnCount where bad(t.cell(row: r, column: c)) {
        finding(
          "row \(r), column \(c): a cell holds a NUL or an unquoted line break: \(Array(t.cell(row: r, column: c).utf8))"
        )
      }
    }
    for name in t.header where bad(name) {
      finding("a header name holds a NUL or an unquoted line break: \(Array(name.utf8))")
    }
    return t
  }

  static func sameTable(_ a: RawTable, _ b: RawTable) -> Bool {
    guard a.header == b.header, a.rowCount == b.rowCount else { return false }
    for r in 0..<a.rowCount {
      if a.line(ofRow: r) != b.line(ofRow: r) { return false }
      for c in 0..<a.columnCount where a.cell(row: r, column: c) != b.cell(row: r, column: c) { return false }
    }
    return true
  }

  /// A DataError is for people: it says something, and names a row only inside the file.
  static func check(_ e: DataError) {
    if e.message.isEmpty { finding("a DataError without a message") }
    if let r = e.row, r < 1 { finding("a DataError on line \(r): \(e)") }
    _ = e.description
  }

  /// A pipeline over the table's first columns: a column whose first cell looks like a number is
  /// dense, any other sparse; the last column is the label. Vocabularies, normalizations, missing
  /// markers and label rules vary with the column's position.
  static func pipeline(for t: RawTable, delimiter: String, policy: BadRowPolicy) -> Pipeline {
    var sparse: [SparseFeature] = []
    var dense: [DenseFeature] = []
    let labelColumn = t.columnCount - 1
    func looksNumeric(_ s: String) -> Bool { Double(s) != nil }
    for c in 0..<min(labelColumn, 8) {
      let first = t.cell(row: 0, column: c)
      let missing = c % 2 == 0 ? ["?"] : ["?", ""]
      if looksNumeric(first) {
        let norms: [Normalization] = [.minmax, .standard, .none, .log]
        dense.append(
          DenseFeature(name: "f\(c)", column: t.header[c], normalize: norms[c % 4], missing: missing))
      } else {
        let vocabulary: Vocabulary
        switch c % 3 {
        case 0: vocabulary = .learned(minCount: 1 + c % 2)
        case 1: vocabulary = .hashed(buckets: 5)
        default:
          var list = [first]
          if t.rowCount > 1, t.cell(row: 1, column: c) != first { list.append(t.cell(row: 1, column: c)) }
          vocabulary = .fixed(list)
        }
        sparse.append(
          SparseFeature(name: "f\(c)", column: t.header[c], vocabulary: vocabulary, missing: missing, embeddingDim: 2))
      }
    }
    var labels: [LabelColumn] = []
    if labelColumn >= 0 {
      let first = t.cell(row: 0, column: labelColumn)
      let rule: LabelRule =
        looksNumeric(first) ? (t.rowCount % 2 == 0 ? .threshold(0.5) : .value) : .positive([first])
      labels.append(LabelColumn(task: "t", column: t.header[labelColumn], rule: rule))
    }
    return Pipeline(
      train: "fuzz.csv", test: nil, testFraction: 0.25, splitSeed: 1, delimiter: delimiter, sparse: sparse,
      dense: dense, labels: labels, onBadRow: policy)
  }

  static func exercise(_ table: RawTable, delimiter: String, policy: BadRowPolicy) {
    let p = pipeline(for: table, delimiter: delimiter, policy: policy)
    var t = table
    if policy == .skip {
      do { t = try table.droppingBadRows(for: p) } catch let e as DataError {
        check(e)
        return
      } catch {
        finding("droppingBadRows threw \(type(of: error)), not DataError: \(error)")
      }
      if t.rowCount < 1 { finding("droppingBadRows left no rows without an error") }
    }
    let (train, test) = DataSplit.holdout(count: t.rowCount, testFraction: p.testFraction, seed: p.splitSeed)
    do {
      let fitted = try FittedPipeline.fit(p, table: t, rows: train)
      if let problem = fitted.check() { finding("a fitted pipeline fails its own check: \(problem)") }
      let all = try fitted.encode(table: t, rows: test + train)
      checkDataset(all, fitted: fitted, rows: test.count + train.count, labels: true)
      let unlabelled = try fitted.encode(table: t, rows: test, labels: false)
      checkDataset(unlabelled, fitted: fitted, rows: test.count, labels: false)
    } catch let e as DataError {
      check(e)
      // Once bad rows are dropped, only the file-level problems of the data stage are left
      // (docs/spec.md, "Dirty data"): no training rows, statistics that overflow, or a value that
      // overflows a float only once normalized.
      if policy == .skip {
        let fileLevel = [
          "no training rows", "mean and std", "after minmax normalization", "after standard normalization",
        ]
        if !fileLevel.contains(where: { e.message.contains($0) }) {
          finding("a row-level problem survived `skip`: \(e)")
        }
      }
    } catch {
      finding("fitting or encoding threw \(type(of: error)), not DataError: \(error)")
    }
  }

  /// What the executor relies on: the shape, finite inputs, ids inside each table.
  static func checkDataset(_ d: Dataset, fitted: FittedPipeline, rows: Int, labels: Bool) {
    let S = fitted.sparse.count
    guard d.count == rows, d.sparseWidth == S, d.denseWidth == fitted.dense.count,
      d.labelWidth == (labels ? fitted.pipeline.labels.count : 0), d.sparse.count == rows * S,
      d.dense.count == rows * d.denseWidth, d.labels.count == rows * d.labelWidth
    else { finding("an encoded dataset has the wrong shape") }
    for (k, id) in d.sparse.enumerated() where id < 0 || Int(id) >= fitted.sparse[k % S].tableRows {
      finding(
        "sparse id \(id) of feature `\(fitted.sparse[k % S].name)` is outside its \(fitted.sparse[k % S].tableRows) rows"
      )
    }
    if let x = d.dense.first(where: { !$0.isFinite }) { finding("a dense input is \(x)") }
    if let y = d.labels.first(where: { !$0.isFinite }) { finding("a label is \(y)") }
    for (k, y) in d.labels.enumerated() {
      if case .value = fitted.pipeline.labels[k % d.labelWidth].rule { continue }
      if y != 0 && y != 1 { finding("a binary label is \(y)") }
    }
  }
}
