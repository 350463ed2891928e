import MTLDiagnostics
import MTLSpec

/// The validated, typed model. Every reference is resolved, every edge has a width, and the
/// blocks are in an order where each block's inputs come before it. Passes (MTLCompiler) rewrite
/// it; `IRPrinter` dumps it one op per line; `IRVerifier` checks its invariants.

/// What a block reads: the feature vector, or another block's output.
public enum BlockRef: Hashable, Sendable, CustomStringConvertible {
  case features
  case experts(String)
  case gate(String)
  /// Towers feed tasks only; specs cannot reference them as inputs (yet).
  case tower(String)
  public var description: String {
    switch self {
    case .features: return "features"
    case .experts(let n): return "experts.\(n)"
    case .gate(let n): return "gates.\(n)"
    case .tower(let n): return "towers.\(n)"
    }
  }
}

public struct SparseInput: Sendable {
  public var name: String
  public var column: String
  public var vocabulary: VocabularyDecl
  public var missing: [String]
  public var dim: Int
  public var span: Span
  /// The feature whose embedding table (and vocabulary) this one reads through, if not its own.
  public var sharesTable: String? = nil
  /// Several values per cell, pooled (nil: one value per cell).
  public var multi: MultiDecl? = nil
}

public struct DenseInput: Sendable {
  public var name: String
  public var column: String
  public var normalize: NormalizeKind
  public var missing: [String]
  public var span: Span
}

public struct DataSource: Sendable {
  /// Paths resolved against the spec's folder.
  public var train: String
  public var test: String?
  public var testFraction: Double
  public var splitSeed: Int
  public var delimiter: String
  public var onBadRow: BadRowAction
  public var validation: String? = nil
  public var validationFraction: Double = 0
  /// Column names of header-less files (`data.columns`).
  public var columns: [String]? = nil
  /// `data.streaming`, `data.shard_rows`, `data.shuffle_window` (nil: not written).
  public var streaming: Bool? = nil
  public var shardRows: Int? = nil
  public var shuffleWindow: Int? = nil
}

/// Experts `start..<start+count` of expert group `group`: what a gate mixes.
public struct ExpertSlice: Hashable, Sendable, CustomStringConvertible {
  public var group: String
  public var start: Int
  public var count: Int
  public init(group: String, start: Int, count: Int) {
    self.group = group
    self.start = start
    self.count = count
  }
  public var description: String { "%experts.\(group)[\(start)..<\(start + count)]" }
}

/// `count` experts of the spec's group `group`.
public struct ExpertOrigin: Hashable, Sendable {
  public var group: String
  public var count: Int
  public init(group: String, count: Int) {
    self.group = group
    self.count = count
  }
}

/// A block of the network, with its inferred shapes.
public struct Block: Sendable {
  public enum Kind: Sendable {
    /// `count` parallel MLPs with layer widths `units`; output [count, B, units.last].
    case experts(count: Int, units: [Int], activation: ActivationKind)
    /// softmax over the experts of `mixes` (K of them in all), from an optional MLP of widths
    /// `units` then a linear layer without bias; output: the mixture [B, H].
    case gate(mixes: [ExpertSlice], units: [Int], activation: ActivationKind)
    /// An MLP of widths `units`, then a linear layer (with bias) to one logit; output [B, 1].
    case tower(units: [Int], activation: ActivationKind)
  }
  public var kind: Kind
  public var name: String
  public var inputs: [BlockRef]
  /// Width of the concatenated inputs.
  public var inputWidth: Int
  /// Output shape: [outExperts, B, outWidth] (outExperts is 1 except for expert groups).
  public var outExperts: Int
  public var outWidth: Int
  /// For a gate: how many experts it mixes (the softmax width).
  public var mixed: Int
  public var span: Span
  /// For an expert group: the spec's groups its experts come from, in order (one entry, itself,
  /// until `merge-parallel-experts` merges groups).
  public var origin: [ExpertOrigin] = []
  /// For the tower of a multiclass task whose classes are learned: that task (`outWidth` is 0
  /// until the classes are fitted, at run time).
  public var outWidthFrom: String?
  /// Inverted dropout after each hidden layer while training (0: none).
  public var dropout: Double = 0
  /// Batch normalisation between each hidden layer's product and its activation.
  public var batchNorm = false
  /// For a gate: its logit layer has a bias.
  public var gateBias = false
  /// For a tower: AITM's transfer from the tower of an upstream task (its hidden output, through
  /// an information layer and the attention unit of `units` projections).
  public var transfer: Transfer? = nil

  public struct Transfer: Sendable {
    public var fromTask: String
    public var fromTower: String
    public var units: Int
  }

  public var ref: BlockRef {
    switch kind {
    case .experts: return .experts(name)
    case .gate: return .gate(name)
    case .tower: return .tower(name)
    }
  }
  public var section: String {
    switch kind {
    case .experts: return "experts"
    case .gate: return "gates"
    case .tower: return "towers"
    }
  }
  public var qualifiedName: String { "\(section).\(name)" }

  /// Every block this one reads: its inputs, and for a gate the expert groups it mixes.
  public var dependencies: [BlockRef] {
    var deps = inputs.filter { $0 != .features }
    if case .gate(let mixes, _, _) = kind {
      for m in mixes where !deps.contains(.experts(m.group)) { deps.append(.experts(m.group)) }
    }
    return deps
  }
}

public enum LabelRuleIR: Sendable {
  case positive([String])
  case threshold(Double)
  case value
  /// Multiclass: the class index in this list (`label.classes`).
  case classes([String])
  /// Multiclass with the classes learned from the training rows (bound at run time).
  case learnedClasses
}

/// What a task is supervised on beyond its label column.
public struct LabelOptions: Sendable {
  /// `where`: the rows whose `column` passes `rule` (`positive` or `threshold`).
  public var space: (column: String, rule: LabelRuleIR)?
  public var missing: LabelMissingPolicy = .error
  public var normalize: LabelNormalize = .none
  public init() {}
}

public struct TaskIR: Sendable {
  public enum Source: Sendable {
    case tower(String)
    case product([String])
  }
  public var name: String
  public var type: TaskKind
  public var label: (column: String, rule: LabelRuleIR)?
  public var labelOptions = LabelOptions()
  public var lossWeight: Double
  /// Binary: the weight of a positive row's loss.
  public var positiveWeight: Double? = nil
  /// AITM's calibration against the upstream task of the funnel: weight · mean(relu(p − p_upstream)).
  public var calibration: (upstream: String, weight: Double)? = nil
  public var source: Source
  public var span: Span
  /// Floats per row of the task's output: the class count for a multiclass task, else 1.
  /// 0 for a multiclass task whose classes are learned (bound at run time).
  public var outputWidth: Int {
    switch label?.rule {
    case .classes(let cs)?: return cs.count
    case .learnedClasses?: return 0
    default: return 1
    }
  }
}

public struct IRModule: Sendable {
  public var name: String
  public var specPath: String
  public var data: DataSource
  public var sparse: [SparseInput]
  public var dense: [DenseInput]
  public var blocks: [Block]
  public var tasks: [TaskIR]
  public var training: TrainingDecl
  public var featuresSpan: Span

  /// Width of the feature vector: every embedding, then every dense value.
  public var featureWidth: Int { sparse.reduce(0) { $0 + $1.dim } + dense.count }

  public func block(_ ref: BlockRef) -> Block? {
    ref == .features ? nil : blocks.first { $0.ref == ref }
  }
  /// Output shape of a reference: (experts, width).
  public func shape(of ref: BlockRef) -> (Int, Int) {
    if ref == .features { return (1, featureWidth) }
    guard let b = block(ref) else { return (0, 0) }
    return (b.outExperts, b.outWidth)
  }
}
