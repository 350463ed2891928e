// Reading, fitting and encoding in one call: what training needs from the data stage.

import MTLGraph
import MTLSupport

/// The train and test sets of a pipeline, encoded with a pipeline fitted on the train rows.
public struct LoadedData: Equatable, Sendable {
  public var fitted: FittedPipeline
  public var train: Dataset
  public var test: Dataset
  /// Rows of the train file the train set holds (0-based data rows).
  public var trainRows: [Int]
  /// Rows the test set holds: of the train file for a holdout split, else of the test file.
  /// Under `onBadRow: .skip` both lists index the rows left once bad rows are dropped.
  public var testRows: [Int]
  /// What `onBadRow: .skip` dropped from the train file; nil when nothing.
  public var trainSkipped: SkipReport?
  /// What `onBadRow: .skip` dropped from the test file; nil when nothing or no test file.
  public var testSkipped: SkipReport?
  /// The validation set (a file, or a fraction of the train file's rows), when the pipeline has
  /// one; its rows, of the validation file or of the train file; what `skip` dropped from its file.
  public var validation: Dataset?
  public var validationRows: [Int]?
  public var validationSkipped: SkipReport?

  /// A report per file that lost rows, train first (empty under `.error`). For the run's log.
  public var skipped: [SkipReport] { [trainSkipped, testSkipped, validationSkipped].compactMap { $0 } }

  /// One line per multi-valued feature whose cells held more values than its `maxLength`: how
  /// many were left out, per set.
  public var truncations: [String] {
    var out: [String] = []
    for (f, s) in fitted.pipeline.sparse.enumerated() {
      guard let m = s.multi else { continue }
      let sets = [("train", train), ("test", test)] + (validation.map { [("validation", $0)] } ?? [])
      let parts = sets.compactMap { name, d in
        f < d.truncatedCounts.count && d.truncatedCounts[f] > 0 ? "\(d.truncatedCounts[f]) in \(name)" : nil
      }
      if !parts.isEmpty {
        out.append(
          "feature `\(s.name)`: values past max_length \(m.maxLength) left out (\(parts.joined(separator: ", ")))")
      }
    }
    return out
  }

  public init(
    fitted: FittedPipeline, train: Dataset, test: Dataset, trainRows: [Int], testRows: [Int],
    trainSkipped: SkipReport? = nil, testSkipped: SkipReport? = nil, validation: Dataset? = nil,
    validationRows: [Int]? = nil, validationSkipped: SkipReport? = nil
  ) {
    self.fitted = fitted
    self.train = train
    self.test = test
    self.trainRows = trainRows
    self.testRows = testRows
    self.trainSkipped = trainSkipped
    self.testSkipped = testSkipped
    self.validation = validation
    self.validationRows = validationRows
    self.validationSkipped = validationSkipped
  }

  /// Reads `trainPath ?? p.train`. With a test file (`testPath ?? p.test`), every train row trains
  /// and every test row tests; otherwise `DataSplit.holdout` with `p.testFraction` and
  /// `p.splitSeed` splits the train file. The pipeline is fitted on the train rows only.
  /// Under `p.onBadRow == .skip`, bad rows are dropped from each file right after parsing, before
  /// the split (see BadRows.swift), and reported in `skipped`.
  ///
  /// With a validation file (`validationPath ?? p.validation`) its rows validate; otherwise
  /// `p.validationFraction` of the train file's rows are held out of the training rows
  /// (`DataSplit.validation`). The pipeline is fitted on the rows that train.
  ///
  /// With a `cache` (by default the one the environment names, see Cache.swift), a load of the
  /// same file contents with the same pipeline returns the stored result instead of parsing again.
  public static func load(
    _ p: Pipeline, trainPath: String? = nil, testPath: String? = nil, validationPath: String? = nil,
    cache: DataCache? = DataCache.default
  ) throws -> LoadedData {
    try loadReporting(p, trainPath: trainPath, testPath: testPath, validationPath: validationPath, cache: cache)
      .data
  }

  /// `load`, also telling what happened with the cache (for logs and tests).
  public static func loadReporting(
    _ p: Pipeline, trainPath: String? = nil, testPath: String? = nil, validationPath: String? = nil,
    cache: DataCache? = DataCache.default
  ) throws -> (data: LoadedData, cache: DataCache.Report) {
    let trainFile = trainPath ?? p.train
    let testFile = testPath ?? p.test
    var p = p
    if let validationPath { p.validation = validationPath }
    let validationFile = p.validation
    let trainBytes = try readDataFile(trainFile)
    var testBytes: [UInt8]? = nil
    var validationBytes: [UInt8]? = nil
    for (file, isTest) in [(testFile, true), (validationFile, false)] {
      guard let file else { continue }
      do {
        let b = try readDataFile(file)
        if isTest { testBytes = b } else { validationBytes = b }
      } catch {
        // As without a cache: a syntax error in the train file is reported before the others'.
        _ = try RawTable.parse(
          trainBytes, path: trainFile, delimiter: p.delimiter, onBadRow: p.onBadRow, columns: p.columns)
        throw error
      }
    }
    guard let cache, DataCache.supported else {
      let data = try build(
        p, trainFile: trainFile, trainBytes: consume trainBytes, testFile: testFile,
        testBytes: consume testBytes, validationBytes: consume validationBytes)
      return (data, DataCache.Report(path: nil))
    }
    let key = DataCache.key(pipeline: p, train: trainBytes, test: testBytes, validation: validationBytes)
    let path = cache.path(forKey: key)
    let keyed = DataCache.keyed(p)
    var report = DataCache.Report(path: path)
    switch cache.lookup(key: key, path: path, pipeline: keyed) {
    case .hit(var data):
      data.fitted.pipeline = p
      data.trainSkipped?.path = trainFile
      data.testSkipped?.path = testFile ?? ""
      data.validationSkipped?.path = validationFile ?? ""
      report.hit = true
      return (data, report)
    case .rejected(let reason): report.rejected = reason
    case .missing: break
    }
    // Moved, not copied: parsing unescapes quoted fields in place.
    let data = try build(
      p, trainFile: trainFile, trainBytes: consume trainBytes, testFile: testFile,
      testBytes: consume testBytes, validationBytes: consume validationBytes)
    report.notStored = cache.store(data, key: key, path: path, pipeline: keyed)
    return (data, report)
  }

  /// A data file's bytes, or a DataError as `RawTable.read` reports it.
  static func readDataFile(_ path: String) throws -> [UInt8] {
    let limit = Int(UInt32.max) - 1
    if case .bytes(let b) = readRegularFile(path, limit: limit) { return b }
    // Anything unusual (no such file, a directory, a pipe, too large) goes the usual way, so the
    // errors are exactly those of `RawTable.read`.
    do {
      return try AtomicFile.read(path, limit: limit)
    } catch let e as FileError {
      throw DataError(path: path, message: "cannot read the file: \(e.reason)")
    }
  }

  /// Parses, splits, fits and encodes: `DataBuild` over each file read whole.
  static func build(
    _ p: Pipeline, trainFile: String, trainBytes: consuming [UInt8], testFile: String?,
    testBytes: consuming [UInt8]?, validationBytes: consuming [UInt8]? = nil
  ) throws -> LoadedData {
    /// Parsed, and under `skip` without its bad rows.
    func table(_ bytes: consuming [UInt8], _ path: String) throws -> RawTable {
      let t = try RawTable.parse(bytes, path: path, delimiter: p.delimiter, onBadRow: p.onBadRow, columns: p.columns)
      return p.onBadRow == .skip ? try t.droppingBadRows(for: p) : t
    }
    let trainTable = try table(trainBytes, trainFile)
    var testSource: TableSource? = nil
    if let testFile, let testBytes { testSource = .tables([try table(testBytes, testFile)]) }
    var validationSource: TableSource? = nil
    if let file = p.validation, let validationBytes { validationSource = .tables([try table(validationBytes, file)]) }
    var train = MemorySink()
    var test = MemorySink()
    var validation = MemorySink()
    let r = try DataBuild.run(
      p, train: .tables([trainTable]), test: testSource, validation: validationSource, trainSink: &train,
      testSink: &test, validationSink: &validation)
    let empty = Dataset.empty(p)
    let trainSet = train.data ?? empty
    let testSet = test.data ?? empty
    var data = LoadedData(
      fitted: r.fitted, train: trainSet, test: testSet, trainRows: trainSet.rows, testRows: testSet.rows,
      trainSkipped: r.trainSkipped.first, testSkipped: r.testSkipped.first)
    if validationSource != nil || p.validationFraction > 0 {
      let v = validation.data ?? empty
      data.validation = v
      data.validationRows = v.rows
      data.validationSkipped = r.validationSkipped.first
    }
    return data
  }
}
