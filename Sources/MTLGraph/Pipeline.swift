// How CSV rows become model inputs and labels. Part of the executable graph; read by MTLData.

public enum Vocabulary: Codable, Equatable, Sendable {
  /// Learned from the training rows: every distinct non-missing value, sorted.
  /// The training values seen at least `minCount` times; with `maxSize`, only the `maxSize` most
  /// frequent of them (equal counts in byte order of the values).
  case learned(minCount: Int, maxSize: Int? = nil)
  /// A fixed list given in the spec.
  case fixed([String])
  /// FNV-1a hash of the value modulo `buckets`.
  case hashed(buckets: Int)
}

public enum Normalization: String, Codable, Sendable {
  case none
  /// (x - min) / (max - min) with training-row statistics; 0 when max == min.
  case minmax
  /// (x - mean) / std with training-row statistics; 0 when std == 0.
  case standard
  /// log(1 + max(x, 0)).
  case log
}

public struct SparseFeature: Codable, Equatable, Sendable {
  public var name: String
  public var column: String
  public var vocabulary: Vocabulary
  public var missing: [String]
  public var embeddingDim: Int
  /// The feature whose embedding table and vocabulary this one reads through (`embedding:` in the
  /// spec); nil for a table of its own. Its vocabulary is then the owner's, fitted on both columns.
  public var table: String? = nil
  /// A multi-valued feature (a bag of values per cell, pooled into one embedding); nil for one
  /// value per cell.
  public var multi: MultiValue? = nil
  public init(name: String, column: String, vocabulary: Vocabulary, missing: [String], embeddingDim: Int) {
    self.name = name
    self.column = column
    self.vocabulary = vocabulary
    self.missing = missing
    self.embeddingDim = embeddingDim
  }
}

/// How the cells of a multi-valued sparse feature are read and pooled (DeepCTR's `VarLenSparseFeat`):
/// a cell is split at `separator`; its values that are in the vocabulary (not empty, not a missing
/// marker, not unseen), the first `maxLength` of them, are looked up and pooled.
public struct MultiValue: Codable, Equatable, Sendable {
  public enum Pooling: String, Codable, Sendable, CaseIterable { case sum, mean, max }
  /// One byte, not the file's delimiter.
  public var separator: String
  public var maxLength: Int
  public var pooling: Pooling
  public init(separator: String, maxLength: Int, pooling: Pooling) {
    self.separator = separator
    self.maxLength = maxLength
    self.pooling = pooling
  }
}

public struct DenseFeature: Codable, Equatable, Sendable {
  public var name: String
  public var column: String
  public var normalize: Normalization
  public var missing: [String]
  public init(name: String, column: String, normalize: Normalization, missing: [String]) {
    self.name = name
    self.column = column
    self.normalize = normalize
    self.missing = missing
  }
}

public enum LabelRule: Codable, Equatable, Sendable {
  /// 1 when the cell is one of these strings, else 0.
  case positive([String])
  /// 1 when the number is greater than the threshold, else 0.
  case threshold(Double)
  /// The number itself (regression).
  case value
  /// The index of the cell in this list (multiclass, `label.classes`); a value not in it is an
  /// unseen class: the row is not scored for the task.
  case classes([String])
  /// Multiclass with the classes learned from the training rows: the distinct values of the scored
  /// rows' label cells, sorted by UTF-8 bytes (the fitted pipeline holds them).
  case learnedClasses
}

/// The rows a task is supervised and scored on (`tasks.<t>.where`): those whose `column` passes
/// `rule` (`positive` or `threshold`, read like a binary label; a missing cell does not pass).
public struct SampleSpace: Codable, Equatable, Sendable {
  public var column: String
  public var rule: LabelRule
  public init(column: String, rule: LabelRule) {
    self.column = column
    self.rule = rule
  }
}

/// A label cell that is missing: an error (the default), or the row is not scored for the task.
public enum LabelMissing: String, Codable, Sendable { case error, mask }

/// How a regression label is scaled for training (`label.normalize`).
public enum LabelNormalization: String, Codable, Sendable {
  /// (y − mean) / std with training-row statistics; predictions are mapped back.
  case standard
}

public struct LabelColumn: Codable, Equatable, Sendable {
  public var task: String
  public var column: String
  public var rule: LabelRule
  /// nil: every row is in the task's sample space. (Optional fields are absent from the file
  /// when nil, so models without them are unchanged.)
  public var space: SampleSpace?
  /// nil: `.error`.
  public var missing: LabelMissing?
  /// nil: the label as it is.
  public var normalize: LabelNormalization?
  public init(
    task: String, column: String, rule: LabelRule, space: SampleSpace? = nil, missing: LabelMissing? = nil,
    normalize: LabelNormalization? = nil
  ) {
    self.task = task
    self.column = column
    self.rule = rule
    self.space = space
    self.missing = (missing == .error) ? nil : missing
    self.normalize = normalize
  }

  /// Whether some rows may have no label for the task (a sample space, masked missing cells, or
  /// classes a row may not hold): such a label is NaN in the encoded data, and the task's loss is
  /// the mean over the rows that have one.
  public var maskable: Bool { isMulticlass || space != nil || missing == .mask }

  public var isMulticlass: Bool {
    switch rule {
    case .classes, .learnedClasses: return true
    case .positive, .threshold, .value: return false
    }
  }
}

/// What loading does with a data row that has a row-level problem (a wrong field count, a cell
/// that is not valid UTF-8 or holds a NUL, a dense value or label that cannot be read).
public enum BadRowPolicy: String, Codable, Sendable, CaseIterable {
  /// The first bad row is a data error naming the file, line and column.
  case error
  /// Bad rows are dropped right after parsing, counted and reported per reason.
  case skip
}

public struct Pipeline: Codable, Equatable, Sendable {
  /// Training data path, relative to the working directory (the compiler resolves it
  /// against the spec's folder).
  public var train: String
  /// Separate test data; when nil, `testFraction` of the train rows are held out.
  public var test: String?
  public var testFraction: Double
  public var splitSeed: UInt64
  /// Separate validation data (scored after every epoch, for early stopping); when nil,
  /// `validationFraction` of the training rows left after the test holdout are held out (none
  /// when 0). In the file only when set, so pipelines without them are unchanged.
  public var validation: String? = nil
  public var validationFraction: Double = 0
  /// The column names of data files without a header line (Criteo's TSV); nil: the first line of
  /// each file names its columns. In the file only when set.
  public var columns: [String]? = nil
  /// Where the encoded examples live while training: nil decides by the data's size (see
  /// `MTLData.DataSets`), true streams them from shards on disk, false holds them in memory. The
  /// result is the same either way. In the file only when set.
  public var streaming: Bool? = nil
  /// Examples per block of the epoch order (a shard on disk), and examples shuffled together in
  /// one window of it (`EpochOrder`). In the file only when not the defaults.
  public var shardRows: Int = Pipeline.defaultShardRows
  public var shuffleWindow: Int = Pipeline.defaultShuffleWindow
  public static let defaultShardRows = 65_536
  public static let defaultShuffleWindow = 262_144
  public var delimiter: String
  public var sparse: [SparseFeature]
  public var dense: [DenseFeature]
  public var labels: [LabelColumn]
  /// Bad data rows: an error (the default) or skipped. In JSON only when not `.error`, so graph
  /// files, checkpoint fingerprints and cache keys of pipelines without it are unchanged, and
  /// graph files written before the key existed still read.
  public var onBadRow: BadRowPolicy

  public init(
    train: String, test: String?, testFraction: Double, splitSeed: UInt64, delimiter: String = ",",
    sparse: [SparseFeature], dense: [DenseFeature], labels: [LabelColumn], onBadRow: BadRowPolicy = .error
  ) {
    self.train = train
    self.test = test
    self.testFraction = testFraction
    self.splitSeed = splitSeed
    self.delimiter = delimiter
    self.sparse = sparse
    self.dense = dense
    self.labels = labels
    self.onBadRow = onBadRow
  }

  enum CodingKeys: String, CodingKey {
    case train, test, testFraction, splitSeed, delimiter, sparse, dense, labels, onBadRow, validation,
      validationFraction, columns, streaming, shardRows, shuffleWindow
  }

  /// Id columns of an encoded example: one per single-valued sparse feature, `maxLength` per
  /// multi-valued one (padded with -1). The sparse ids of a batch are [B, idColumns].
  public var idColumns: Int { sparse.reduce(0) { $0 + ($1.multi?.maxLength ?? 1) } }

  /// The first id column of sparse feature `slot`, for each slot.
  public var idOffsets: [Int] {
    var out: [Int] = []
    var o = 0
    for s in sparse {
      out.append(o)
      o += s.multi?.maxLength ?? 1
    }
    return out
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    train = try c.decode(String.self, forKey: .train)
    test = try c.decodeIfPresent(String.self, forKey: .test)
    testFraction = try c.decode(Double.self, forKey: .testFraction)
    splitSeed = try c.decode(UInt64.self, forKey: .splitSeed)
    delimiter = try c.decode(String.self, forKey: .delimiter)
    sparse = try c.decode([SparseFeature].self, forKey: .sparse)
    dense = try c.decode([DenseFeature].self, forKey: .dense)
    labels = try c.decode([LabelColumn].self, forKey: .labels)
    onBadRow = try c.decodeIfPresent(BadRowPolicy.self, forKey: .onBadRow) ?? .error
    validation = try c.decodeIfPresent(String.self, forKey: .validation)
    validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction) ?? 0
    columns = try c.decodeIfPresent([String].self, forKey: .columns)
    streaming = try c.decodeIfPresent(Bool.self, forKey: .streaming)
    shardRows = try c.decodeIfPresent(Int.self, forKey: .shardRows) ?? Pipeline.defaultShardRows
    shuffleWindow = try c.decodeIfPresent(Int.self, forKey: .shuffleWindow) ?? Pipeline.defaultShuffleWindow
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(train, forKey: .train)
    try c.encodeIfPresent(test, forKey: .test)
    try c.encode(testFraction, forKey: .testFraction)
    try c.encode(splitSeed, forKey: .splitSeed)
    try c.encode(delimiter, forKey: .delimiter)
    try c.encode(sparse, forKey: .sparse)
    try c.encode(dense, forKey: .dense)
    try c.encode(labels, forKey: .labels)
    if onBadRow != .error { try c.encode(onBadRow, forKey: .onBadRow) }
    try c.encodeIfPresent(validation, forKey: .validation)
    if validationFraction != 0 { try c.encode(validationFraction, forKey: .validationFraction) }
    try c.encodeIfPresent(columns, forKey: .columns)
    try c.encodeIfPresent(streaming, forKey: .streaming)
    if shardRows != Pipeline.defaultShardRows { try c.encode(shardRows, forKey: .shardRows) }
    if shuffleWindow != Pipeline.defaultShuffleWindow { try c.encode(shuffleWindow, forKey: .shuffleWindow) }
  }

  /// Whether the data has a validation set (a file, or a fraction of the training rows).
  public var hasValidation: Bool { validation != nil || validationFraction > 0 }
}
