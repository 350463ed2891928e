import MTLDiagnostics

/// The spec as written: every value keeps the span it came from. Produced by `SpecDecoder`,
/// consumed by the validator (MTLIR). Docs: docs/spec.md.

public struct Located<T: Sendable>: Sendable {
  public var value: T
  public var span: Span
  public init(_ value: T, _ span: Span) {
    self.value = value
    self.span = span
  }
}

public enum FeatureKind: String, Sendable, CaseIterable { case dense, sparse }
public enum NormalizeKind: String, Sendable, CaseIterable { case none, minmax, standard, log }
public enum TaskKind: String, Sendable, CaseIterable { case binary, regression, multiclass }
/// `label.missing`: a missing label cell is an error, or leaves the row out of the task.
public enum LabelMissingPolicy: String, Sendable, CaseIterable { case error, mask }
/// `label.normalize` of a regression task.
public enum LabelNormalize: String, Sendable, CaseIterable { case none, standard }
/// The activation functions a layer can name (`silu` is read as `swish`).
public enum ActivationName: String, Sendable, CaseIterable {
  case relu, none, sigmoid, tanh
  case leakyRelu = "leaky_relu"
  case prelu, gelu, swish, silu
}

/// A layer's activation: its function and, for `leaky_relu`, the negative-side slope
/// (`activation: {type: leaky_relu, slope: 0.2}`; 0.01 when not given, as Keras' `LeakyReLU`).
public struct ActivationKind: Hashable, Sendable {
  public var name: ActivationName
  public var slope: Double?
  public init(_ name: ActivationName, slope: Double? = nil) {
    self.name = name == .silu ? .swish : name
    self.slope = self.name == .leakyRelu && slope != Self.defaultLeakySlope ? slope : nil
  }
  public static let relu = ActivationKind(.relu)
  public static let none = ActivationKind(.none)
  /// `leaky_relu`'s slope when none is given.
  public static let defaultLeakySlope = 0.01
  /// As written in IR dumps: `relu`, `leaky_relu(0.2)`.
  public var rawValue: String {
    guard let slope else { return name.rawValue }
    return "\(name.rawValue)(\(slope))"
  }
}
public enum OptimizerType: String, Sendable, CaseIterable { case adam, adagrad, sgd, adamw }
/// `training.schedule.decay`.
public enum ScheduleDecay: String, Sendable, CaseIterable { case none, cosine, step, exponential }

/// `training.schedule`: warm-up and decay of the learning rate.
public struct ScheduleDecl: Sendable {
  public var warmupSteps = 0
  public var decay: ScheduleDecay = .none
  public var decaySteps = 1000
  public var decayRate = 0.96
  public var minRate = 0.0
  public init() {}
}
/// `training.loss_balancing.method`: how the task losses are weighted each step.
public enum LossBalancingMethod: String, Sendable, CaseIterable { case none, uncertainty, gradnorm, pcgrad }
/// `data.on_bad_row`: a bad data row is an error, or is skipped and counted.
public enum BadRowAction: String, Sendable, CaseIterable { case error, skip }

public enum VocabularyDecl: Sendable {
  case learned(minCount: Int, maxSize: Int? = nil)
  case fixed([String])
  case hashed(buckets: Int)
}

public struct DataDecl: Sendable {
  public var train: Located<String>
  public var test: Located<String>?
  public var testFraction: Double
  /// A validation file, or a fraction of the train file's rows held out of training (0: none).
  public var validation: Located<String>? = nil
  public var validationFraction: Double = 0
  public var splitSeed: Int?
  public var delimiter: String
  public var missing: [String]
  public var onBadRow: BadRowAction
  public var span: Span
  /// `columns: [...]`: the data files have no header line; these name their columns in order.
  public var columns: Located<[String]>? = nil
  /// `streaming: true|false`: examples from shards on disk or in memory; nil: by the data's size.
  public var streaming: Bool? = nil
  /// `shard_rows`, `shuffle_window`: the epoch order's blocks and windows (nil: the defaults).
  public var shardRows: Int? = nil
  public var shuffleWindow: Int? = nil
}

public struct FeatureDecl: Sendable {
  public var name: Located<String>
  public var column: Located<String>
  public var kind: FeatureKind
  public var embeddingDim: Int
  public var vocabulary: VocabularyDecl
  public var normalize: NormalizeKind
  public var missing: [String]
  public var span: Span
  /// `embedding: OTHER`: a sparse feature that reads through OTHER's embedding table (and its
  /// vocabulary) instead of a table of its own. `embeddingDim` is 0 when not written.
  public var sharesTable: Located<String>? = nil
  /// Where `embedding_dim` was written, for a width that differs from the shared table's.
  public var embeddingDimSpan: Span? = nil
  /// `multi: {...}`: several values per cell, pooled (nil: one value per cell).
  public var multi: MultiDecl? = nil
}

/// `multi:` of a sparse feature.
public struct MultiDecl: Sendable {
  public enum Pooling: String, Sendable, CaseIterable { case sum, mean, max }
  public var separator: Located<String>
  public var maxLength: Int
  public var pooling: Pooling
}

public struct LabelDecl: Sendable {
  public var column: Located<String>
  /// The values that mean 1, each with its span (a value the data never holds is located).
  public var positive: [Located<String>]?
  public var threshold: Double?
  /// Multiclass: the classes, fixed (nil: the distinct values of the training file).
  public var classes: Located<[Located<String>]>?
  public var missing: Located<LabelMissingPolicy>?
  public var normalize: Located<LabelNormalize>?
  public var span: Span
}

/// `tasks.<t>.where`: the rows the task is supervised and scored on.
public struct WhereDecl: Sendable {
  public var column: Located<String>
  public var positive: [Located<String>]?
  public var threshold: Double?
  public var span: Span
}

public struct TaskDecl: Sendable {
  public var name: Located<String>
  public var type: Located<TaskKind>
  public var label: LabelDecl?
  public var lossWeight: Double
  public var tower: Located<String>?
  public var product: Located<[Located<String>]>?
  public var `where`: WhereDecl?
  /// Binary only: the weight of a positive row's loss (negatives weigh 1).
  public var positiveWeight: Located<Double>? = nil
  public var span: Span
  /// `calibration: W`: AITM's behavioural expectation calibrator, W · mean(relu(p − p_upstream))
  /// with the task its tower transfers from.
  public var calibration: Located<Double>? = nil
}

/// A reference to a block output: `features`, `experts.NAME` or `gates.NAME`.
public struct Reference: Sendable {
  public var text: String
  public var span: Span
}

public struct ExpertDecl: Sendable {
  /// Inverted dropout after each hidden layer (0: none).
  public var dropout: Double = 0
  /// Batch normalisation between each hidden layer's product and its activation.
  public var batchNorm = false
  public var name: Located<String>
  public var count: Located<Int>
  public var input: [Reference]
  public var units: Located<[Int]>
  public var activation: ActivationKind
  public var span: Span
}

public struct GateDecl: Sendable {
  /// Inverted dropout after each hidden layer (0: none).
  public var dropout: Double = 0
  /// Batch normalisation between each hidden layer's product and its activation.
  public var batchNorm = false
  public var name: Located<String>
  public var input: [Reference]
  public var experts: [Located<String>]
  public var units: [Int]
  public var activation: ActivationKind
  public var span: Span
  /// `bias: true`: the gate's logit layer has a bias (TorchEasyRec; DeepCTR and the papers have none).
  public var bias = false
}

public struct TowerDecl: Sendable {
  /// Inverted dropout after each hidden layer (0: none).
  public var dropout: Double = 0
  /// Batch normalisation between each hidden layer's product and its activation.
  public var batchNorm = false
  public var name: Located<String>
  public var input: [Reference]
  public var units: Located<[Int]>
  public var activation: ActivationKind
  public var span: Span
  /// `transfer: {from: TASK, units: K}`: AITM's adaptive information transfer from the tower of an
  /// upstream task in a funnel (Xi et al., KDD 2021).
  public var transfer: TransferDecl? = nil
}

/// `transfer:` of a tower.
public struct TransferDecl: Sendable {
  /// The upstream task whose tower's representation is transferred.
  public var from: Located<String>
  /// Width of the attention unit's projections (nil: the tower's last hidden width).
  public var units: Int?
  public var span: Span
}

public struct EarlyStoppingDecl: Sendable {
  public var monitor: Located<String>
  public var patience: Int
  public var minDelta: Double
  public var span: Span
}

public struct TrainingDecl: Sendable {
  public var optimizer: OptimizerType = .adam
  public var learningRate: Double = 0.001
  public var beta1: Double = 0.9
  public var beta2: Double = 0.999
  public var epsilon: Double = 1e-7
  public var momentum: Double = 0
  public var initialAccumulator: Double = 0.1
  /// `adamw` only.
  public var weightDecay: Double = 0.01
  public var schedule: ScheduleDecl? = nil
  /// Measure the tasks' gradient cosines whatever the loss-balancing method.
  public var gradientCosine = false
  public var batchSize: Int = 256
  public var epochs: Int = 10
  public var seed: Int = 0
  public var l2Embeddings: Double = 0
  public var l2Weights: Double = 0
  public var clipNorm: Double = 0
  public var lossBalancing: LossBalancingMethod = .none
  /// GradNorm's asymmetry α.
  public var gradnormAlpha: Double = 1.5
  /// `early_stopping`: the monitor (with its span, checked against the tasks by the validator),
  /// patience and min_delta.
  public var earlyStopping: EarlyStoppingDecl? = nil
  public init() {}
}

public struct Spec: Sendable {
  public var path: String
  /// The files sections were included from; a relative data path written in one of them is
  /// relative to that file's folder, any other to the spec's.
  public var includes: [String] = []
  public var version: Int
  public var name: String
  public var description: String
  public var data: DataDecl
  public var features: [FeatureDecl]
  public var tasks: [TaskDecl]
  public var experts: [ExpertDecl]
  public var gates: [GateDecl]
  public var towers: [TowerDecl]
  public var training: TrainingDecl
  /// Span of the `features:` key, for errors about the feature vector as a whole.
  public var featuresSpan: Span
}
