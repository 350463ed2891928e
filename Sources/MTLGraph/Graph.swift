import Foundation

// The executable graph: what `mtlc compile` writes and `mtlc run` executes.
//
// Plain Codable data, documented in docs/graph-format.md. It names no spec node and no IR type:
// the compiler lowers the IR into it, and the runtime reads only this.
//
// Shapes. Every value is a tensor of B rows (the batch, bound at run time), each row holding E
// stacked experts of width W (E = 1 for an ordinary [B, W] activation). Values are stored
// batch-major, [B, E, W], so any run of rows is contiguous. Parameters have fixed shapes, except
// embedding tables whose row count is bound from the learned vocabulary (`rowsFrom`).

public struct Graph: Codable, Equatable, Sendable {
  public static let formatName = "mtlc-graph"
  public static let formatVersion = 1

  public var format: String = Graph.formatName
  public var version: Int = Graph.formatVersion
  /// The model's name from the spec.
  public var name: String
  /// The spec this graph was compiled from (as given on the command line).
  public var source: String
  /// How CSV rows become model inputs and labels.
  public var pipeline: Pipeline
  public var params: [Param]
  public var values: [Value]
  /// Forward ops in execution order; backward runs them in reverse.
  public var ops: [Op]
  /// One entry per task, labelled or not: where its prediction lives.
  public var tasks: [TaskOutput]
  /// Loss terms, summed with their weights (mean over the batch each, or over the rows of the
  /// batch in the task's sample space when its label can be absent: `LabelColumn.maskable`).
  public var losses: [Loss]
  public var training: Training
  /// AITM's calibrations: weight · mean over the batch of relu(p_task − p_upstream), added to the
  /// loss outside the task losses' balancing (absent from the file when none).
  public var calibrations: [Calibration]? = nil

  public init(
    name: String, source: String, pipeline: Pipeline, params: [Param], values: [Value], ops: [Op],
    tasks: [TaskOutput], losses: [Loss], training: Training
  ) {
    self.name = name
    self.source = source
    self.pipeline = pipeline
    self.params = params
    self.values = values
    self.ops = ops
    self.tasks = tasks
    self.losses = losses
    self.training = training
  }
}

public typealias ValueID = Int
public typealias ParamID = Int

/// A funnel's calibration term (Xi et al. 2021): a task's probability should not pass its
/// upstream task's. Both values are [B, 1] probabilities.
public struct Calibration: Codable, Equatable, Sendable {
  public var task: String
  public var input: ValueID
  public var upstream: ValueID
  public var weight: Float
  public init(task: String, input: ValueID, upstream: ValueID, weight: Float) {
    self.task = task
    self.input = input
    self.upstream = upstream
    self.weight = weight
  }
}

/// A tensor of shape [B, experts, width] (written [E,B,W] in dumps when E > 1).
public struct Value: Codable, Equatable, Sendable {
  public var name: String
  public var experts: Int
  public var width: Int
  /// For stacked experts: each expert's name in the spec (`shared[2]`), so diagnostics can name
  /// experts of merged groups. nil otherwise.
  public var expertNames: [String]?
  /// A multiclass task's logits or probabilities whose classes are learned from the training
  /// rows: `width` is 0 until bound to that task's class count (`Graph.bound`).
  public var widthFrom: String?
  public init(name: String, experts: Int = 1, width: Int, expertNames: [String]? = nil, widthFrom: String? = nil) {
    self.name = name
    self.experts = experts
    self.width = width
    self.expertNames = expertNames
    self.widthFrom = widthFrom
  }
  public var shapeText: String {
    let w = widthFrom != nil && width == 0 ? "K(\(widthFrom!))" : "\(width)"
    return experts == 1 ? "[B,\(w)]" : "[B,\(experts),\(w)]"
  }
  /// Floats in one row: experts × width.
  public var rowWidth: Int { experts * width }
}

public enum ParamKind: String, Codable, Sendable {
  case weight, bias, embedding
  /// Not trained by the optimiser: batch normalisation's running mean and variance, updated from
  /// each training batch's statistics (no gradient, no L2, no weight decay).
  case statistic
}

public enum Initializer: Codable, Equatable, Sendable {
  /// Uniform(-l, l) with l = sqrt(6 / (fanIn + fanOut)).
  case glorotUniform(fanIn: Int, fanOut: Int)
  case zeros
  case ones
  case normal(std: Double)
  case uniform(limit: Double)
  /// Every element the same value (PReLU's slopes start at 0.25, as PyTorch's).
  case constant(Double)
}

public struct Param: Codable, Equatable, Sendable {
  /// Dotted name: `experts.shared.layer0.w`.
  public var name: String
  /// Row-major shape. For an embedding with `rowsFrom`, shape[0] is 0 until bound.
  public var shape: [Int]
  public var kind: ParamKind
  public var initializer: Initializer
  /// L2 coefficient: the loss gains `l2 * sum(w^2)`.
  public var l2: Float
  /// Name of the sparse feature whose vocabulary size sets shape[0].
  public var rowsFrom: String?
  /// Name of the multiclass task whose class count sets the last dimension (a tower's last layer
  /// when the classes are learned from the training rows).
  public var colsFrom: String?
  /// The spec block that owns it (for summaries).
  public var block: String

  public init(
    name: String, shape: [Int], kind: ParamKind, initializer: Initializer, l2: Float = 0,
    rowsFrom: String? = nil, colsFrom: String? = nil, block: String
  ) {
    self.name = name
    self.shape = shape
    self.kind = kind
    self.initializer = initializer
    self.l2 = l2
    self.rowsFrom = rowsFrom
    self.colsFrom = colsFrom
    self.block = block
  }

  public var count: Int { shape.reduce(1, *) }
  public var shapeText: String {
    var dims = shape.map(String.init)
    if let f = rowsFrom, shape.first == 0 { dims[0] = "V(\(f))" }
    if let t = colsFrom, shape.last == 0 { dims[dims.count - 1] = "K(\(t))" }
    return "[" + dims.joined(separator: ",") + "]"
  }
}

public enum Activation: String, Codable, Sendable, CaseIterable {
  case none, relu, sigmoid, tanh
  case leakyRelu = "leaky_relu"
  /// max(x, 0) + a_c · min(x, 0) with a learned slope a_c per unit (channel) of the layer.
  case prelu
  /// x · Φ(x), Φ the standard normal CDF (the exact form, as PyTorch's and TF's default).
  case gelu
  /// x · σ(x) (also called SiLU).
  case swish

  /// Whether a producer (linear, expert_linear, batch_norm) can apply it in its epilogue: its
  /// derivative follows from the output alone and it has no parameter. The others run as an
  /// `activation` op that keeps its input for the backward pass.
  public var fusesIntoProducer: Bool {
    switch self {
    case .none, .relu, .sigmoid, .tanh, .leakyRelu: return true
    case .prelu, .gelu, .swish: return false
    }
  }
}

/// The op set. Letters: B batch, I in width, O out width, E experts, K sum of mixed experts.
public enum OpKind: String, Codable, Sendable {
  /// ids of sparse slot `slot` [B] -> table rows [B, D]. params: [table [V, D]].
  case embed
  /// dense columns of the pipeline [B, N]. No inputs.
  case denseInput = "dense_input"
  /// [B, W1], [B, W2], ... -> [B, W1+W2+...].
  case concat
  /// x [B, I] -> act(x W + b) [B, O]. params: [w [I, O], b [O]] (b optional). When the output
  /// holds E experts, O = E·W: the first layer of a stack of experts as one wide product.
  case linear
  /// x [B, E, I] -> act(x_e W_e + b_e) [B, E, O]. params: [w [E, I, O], b [E, O]].
  case expertLinear = "expert_linear"
  /// logits [B, K] -> softmax over K [B, K].
  case softmax
  /// gate [B, K], groups [B, E1, H], [B, E2, H], ... -> sum_k g_k * expert_k [B, H], where
  /// expert k is `op.mix[k]`: an input (1-based position in `inputs`) and an expert within it.
  case mix
  /// x [B, 1] -> sigmoid(x) [B, 1].
  case sigmoid
  /// p1 [B, 1], p2 [B, 1], ... -> p1 * p2 * ... [B, 1].
  case product
  /// x [B, E, W] -> act(γ·(x − μ)/√(σ² + ε) + β) [B, E, W], per element of a row (C = E·W channels).
  /// params: [γ [C], β [C], running μ [C], running σ² [C]]. While training μ, σ² are the batch's
  /// (over every thread's rows) and the running ones move toward them by `rate` = 1 − momentum
  /// after each step; otherwise the running ones are used. ε = 1e-3 (Keras).
  case batchNorm = "batch_norm"
  /// a [B, K], b [B, K] -> `scale` · Σ_k a·b [B, 1]: AITM's attention score of one candidate.
  case dot
  /// x [B, E, W] -> act(x) [B, E, W], element-wise, for the activations a producer cannot fuse
  /// (`Activation.fusesIntoProducer`) and for `leaky_relu` whose spec gives a `slope` other than
  /// its default (a `slope` written as 0.01 is the default and fuses).
  /// params: [slope [C]] for `prelu` (C = E·W, one learned slope per unit), none otherwise.
  case activation
  /// x [B, E, W] -> x [B, E, W], each element kept with probability 1 − `rate` and scaled by
  /// 1/(1 − rate) while training (inverted dropout), the identity otherwise. The mask is a hash
  /// of (seed, op, step, batch row, element): the same whatever the thread count.
  case dropout
}

extension OpKind {
  /// ε of `batchNorm` (Keras' default; `Kernels.batchNormEpsilon` is the runtime's copy).
  public static let batchNormEpsilon: Float = 1e-3
}

public struct Op: Codable, Equatable, Sendable {
  public var kind: OpKind
  public var inputs: [ValueID]
  public var output: ValueID
  public var params: [ParamID]
  public var activation: Activation
  /// For `embed`: the sparse slot in the pipeline.
  public var slot: Int?
  /// For `mix`: the K experts mixed, in gate order.
  public var mix: [MixRef]?
  /// For `dropout`: the fraction of elements dropped while training.
  public var rate: Float? = nil
  /// For an `activation` op with `leaky_relu`: the negative-side slope.
  public var slope: Float? = nil
  /// For `dot`: the factor on the row sums (1/√K).
  public var scale: Float? = nil
  /// The spec block it implements, e.g. `experts.shared`.
  public var block: String
  /// Source location in the spec, `file:line:col`.
  public var loc: String

  public init(
    kind: OpKind, inputs: [ValueID], output: ValueID, params: [ParamID] = [],
    activation: Activation = .none, slot: Int? = nil, mix: [MixRef]? = nil, block: String, loc: String
  ) {
    self.kind = kind
    self.inputs = inputs
    self.output = output
    self.params = params
    self.activation = activation
    self.slot = slot
    self.mix = mix
    self.block = block
    self.loc = loc
  }
}

/// One expert a `mix` op mixes: expert `expert` of the op's input at position `input` (≥ 1; input
/// 0 is the gate).
public struct MixRef: Codable, Equatable, Sendable {
  public var input: Int
  public var expert: Int
  public init(input: Int, expert: Int) {
    self.input = input
    self.expert = expert
  }
}

/// What a task predicts. Everything that differs between task types at run time is a property
/// here (`TaskType.swift`): the output width, the loss on the task's tower, how a prediction is
/// made from the logits.
public enum TaskType: String, Codable, Sendable, CaseIterable { case binary, regression, multiclass }

public struct TaskOutput: Codable, Equatable, Sendable {
  public var name: String
  public var type: TaskType
  /// The prediction: a probability for binary tasks, the value for regression, one probability
  /// per class for multiclass tasks. [B, 1] or [B, K]
  public var prediction: ValueID
  /// The logit(s), when the task has a tower of its own. [B, 1] or [B, K]
  public var logit: ValueID?
  /// Index into the pipeline's labels, when the task has a label.
  public var label: Int?
  /// Multiclass tasks: the class names, in output order (nil for other types, and absent from
  /// the file). Classes learned from the training rows are empty until bound (`Graph.bound`).
  public var classes: [String]?
  public init(
    name: String, type: TaskType, prediction: ValueID, logit: ValueID?, label: Int?, classes: [String]? = nil
  ) {
    self.name = name
    self.type = type
    self.prediction = prediction
    self.logit = logit
    self.label = label
    self.classes = classes
  }

  /// Floats per row of the prediction: K for a multiclass task, else 1.
  public var width: Int { type.outputWidth(classes: classes?.count ?? 0) }
}

public enum LossKind: String, Codable, Sendable {
  /// Binary cross-entropy on a logit (numerically stable).
  case bceLogits = "bce_logits"
  /// Binary cross-entropy on a probability, clipped to [1e-7, 1-1e-7] (for product tasks).
  case bceProb = "bce_prob"
  /// Squared error on a value.
  case mse
  /// Softmax cross-entropy on K logits against a class index (numerically stable).
  case softmaxCrossEntropy = "softmax_ce"
}

public struct Loss: Codable, Equatable, Sendable {
  public var task: String
  public var kind: LossKind
  public var input: ValueID
  public var label: Int
  public var weight: Float
  /// Binary cross-entropy: the weight of a row whose label is 1 (nil: 1; absent from the file).
  /// The loss is then −[pw·y·log p + (1 − y)·log(1 − p)], averaged over the rows.
  public var positiveWeight: Float? = nil
  public init(task: String, kind: LossKind, input: ValueID, label: Int, weight: Float) {
    self.task = task
    self.kind = kind
    self.input = input
    self.label = label
    self.weight = weight
  }
}

public enum OptimizerKind: String, Codable, Sendable {
  case adam, adagrad, sgd
  /// Adam with decoupled weight decay (Loshchilov & Hutter 2019): each step first shrinks every
  /// weight matrix by lr·weightDecay·w, then takes Adam's step.
  case adamw
}

/// `training.schedule`: the learning rate of step s (1-based) is the optimiser's rate times a
/// linear warm-up (s / W for the first W = `warmupSteps` steps) times the decay of the steps after
/// it, counted from 0 (k = max(0, s − W − 1), so the first step after the warm-up has the full
/// rate): `cosine` minRate + (1 − minRate)·½(1 + cos(π·min(k, D)/D)), `step` decayRate^⌊k/D⌋,
/// `exponential` decayRate^(k/D), D = `decaySteps`; `none` 1.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
  public enum Decay: String, Codable, Sendable, CaseIterable { case none, cosine, step, exponential }
  public var warmupSteps: Int
  public var decay: Decay
  public var decaySteps: Int
  public var decayRate: Double
  /// `cosine`: the floor, as a fraction of the rate.
  public var minRate: Double
  public init(warmupSteps: Int, decay: Decay, decaySteps: Int, decayRate: Double, minRate: Double) {
    self.warmupSteps = warmupSteps
    self.decay = decay
    self.decaySteps = decaySteps
    self.decayRate = decayRate
    self.minRate = minRate
  }

  /// The factor on the base rate at step `s` (1-based), in Double.
  public func factor(step s: Int) -> Double {
    var f = 1.0
    if warmupSteps > 0 && s < warmupSteps { f = Double(s) / Double(warmupSteps) }
    let k = Double(max(0, s - warmupSteps - 1))
    let d = Double(max(decaySteps, 1))
    switch decay {
    case .none: break
    case .cosine: f *= minRate + (1 - minRate) * 0.5 * (1 + cos(Double.pi * min(k, d) / d))
    case .step: f *= pow(decayRate, (k / d).rounded(.down))
    case .exponential: f *= pow(decayRate, k / d)
    }
    return f
  }
}

/// How the task losses are weighted each step (`LossBalancer` in MTLRuntime).
public enum LossBalancingKind: String, Codable, Sendable {
  /// Learned homoscedastic uncertainty (Kendall, Gal & Cipolla 2018), s = log σ² per loss:
  /// e^(−s)·L + ½s for a classification loss, ½e^(−s)·L + ½s for a regression loss.
  case uncertainty
  /// Gradient surgery (Yu et al. 2020) on the parameters several tasks share.
  case pcgrad
  /// Gradient normalisation (Chen et al. 2018) on the last shared layer, with `gradnormAlpha`.
  case gradnorm
}

/// `training.early_stopping`: what is watched on the validation set after each epoch.
public struct EarlyStopping: Codable, Equatable, Sendable {
  /// `loss` (Σ loss_weight × each task's mean validation loss) or `TASK.METRIC`.
  public var monitor: String
  /// Epochs without an improvement of more than `minDelta` before training stops.
  public var patience: Int
  public var minDelta: Double
  public init(monitor: String, patience: Int, minDelta: Double) {
    self.monitor = monitor
    self.patience = patience
    self.minDelta = minDelta
  }

  /// The monitored metric: its task (nil for `loss`) and name.
  public var parts: (task: String?, metric: String) {
    guard let dot = monitor.lastIndex(of: ".") else { return (nil, monitor) }
    return (String(monitor[..<dot]), String(monitor[monitor.index(after: dot)...]))
  }

  /// Whether larger values are better (AUC, accuracy) rather than smaller (losses, errors).
  public var maximizes: Bool { ["auc", "accuracy"].contains(parts.metric) }

  /// The metrics a task type can be monitored on.
  public static func metrics(for type: TaskType) -> [String] {
    switch type {
    case .binary: return ["auc", "logloss", "loss"]
    case .regression: return ["mse", "mae", "loss"]
    case .multiclass: return ["accuracy", "auc", "logloss", "loss"]
    }
  }
}

public struct Training: Codable, Equatable, Sendable {
  public var optimizer: OptimizerKind
  public var learningRate: Float
  public var beta1: Float
  public var beta2: Float
  public var epsilon: Float
  public var momentum: Float
  public var initialAccumulator: Float
  public var batchSize: Int
  public var epochs: Int
  public var seed: UInt64
  /// Clip the global gradient norm to this value (0: off).
  public var clipNorm: Float
  /// nil: the losses' fixed `weight`s. In the file only when set, so models without it are
  /// unchanged.
  public var lossBalancing: LossBalancingKind?
  /// GradNorm's α (with `lossBalancing == .gradnorm`).
  public var gradnormAlpha: Float?
  /// Stop when the validation monitor has not improved for `patience` epochs, and end with the
  /// best epoch's parameters. nil: train every epoch, keep the last.
  public var earlyStopping: EarlyStopping? = nil
  /// `adamw`'s decoupled weight decay (nil otherwise).
  public var weightDecay: Float? = nil
  /// The learning-rate schedule; nil: the optimiser's rate on every step.
  public var schedule: LearningRateSchedule? = nil
  /// Measure the cosine between the tasks' gradients on every step also when the loss-balancing
  /// method does not need them (a diagnostic: one backward pass per task more; the training is
  /// the same to the bit). nil: only the methods that keep each task's gradient report it.
  public var gradientCosine: Bool? = nil
  public init(
    optimizer: OptimizerKind, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
    epsilon: Float = 1e-7, momentum: Float = 0, initialAccumulator: Float = 0.1, batchSize: Int,
    epochs: Int, seed: UInt64, clipNorm: Float = 0, lossBalancing: LossBalancingKind? = nil,
    gradnormAlpha: Float? = nil
  ) {
    self.optimizer = optimizer
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.momentum = momentum
    self.initialAccumulator = initialAccumulator
    self.batchSize = batchSize
    self.epochs = epochs
    self.seed = seed
    self.clipNorm = clipNorm
    self.lossBalancing = lossBalancing
    self.gradnormAlpha = gradnormAlpha
  }
}
