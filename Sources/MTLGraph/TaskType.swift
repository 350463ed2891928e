// What differs between task types after the compiler: one place, so that a new task type is a new
// case here (and its kernel, metric and spec rules), not a switch in every module.
//
//   type        output   prediction from the tower      loss on the tower      loss on a product
//   binary      [B, 1]   sigmoid(logit)                 bce_logits             bce_prob
//   regression  [B, 1]   the logit itself               mse                    -
//   multiclass  [B, K]   softmax(logits) over K         softmax_ce             -

extension TaskType {
  /// Floats per row of the task's output, K being its class count.
  public func outputWidth(classes: Int) -> Int { self == .multiclass ? classes : 1 }

  /// The op that turns the tower's logits into the prediction; nil when the logits are the
  /// prediction.
  public var predictionOp: OpKind? {
    switch self {
    case .binary: return .sigmoid
    case .regression: return nil
    case .multiclass: return .softmax
    }
  }

  /// The loss on the task's own tower output.
  public var towerLoss: LossKind {
    switch self {
    case .binary: return .bceLogits
    case .regression: return .mse
    case .multiclass: return .softmaxCrossEntropy
    }
  }

  /// Whether the loss is a classification loss (uncertainty weighting: e^(−s)·L + ½s) rather
  /// than a regression one (½e^(−s)·L + ½s).
  public var isClassification: Bool { self != .regression }
}

extension LossKind {
  /// Whether the loss is a classification loss (see `TaskType.isClassification`).
  public var isClassification: Bool { self != .mse }
}
