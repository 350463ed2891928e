import Foundation
import MTLSupport

/// The metrics JSON that `mtlc run --metrics-out` and `mtlc evaluate --metrics-out` write (one
/// shape for both; `evaluate` has no `train` or expert history). Documented in README.
public struct MetricsFile: Encodable {
  public struct TrainInfo: Encodable {
    var samples_per_second: Double
    var seconds: Double
    var epochs: Int
    var rows: Int
    var history: [EpochReport]
    /// With a validation set: its rows; with early stopping: the epoch whose parameters the run
    /// ended with, and whether it stopped before its last epoch.
    var validation_rows: Int? = nil
    var best_epoch: Int? = nil
    var stopped_early: Bool? = nil
  }

  var model: String
  var seed: UInt64
  var test_rows: Int
  var tasks: [String: TaskMetrics]
  var train: TrainInfo?
  var experts: ExpertReport?
  /// After each epoch this process trained.
  var expert_history: [ExpertReport]?

  public init(
    model: String, seed: UInt64, testRows: Int, metrics: [TaskMetrics], train: TrainInfo? = nil,
    experts: ExpertReport? = nil, expertHistory: [ExpertReport]? = nil
  ) {
    self.model = model
    self.seed = seed
    self.test_rows = testRows
    self.tasks = Dictionary(metrics.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
    self.train = train
    self.experts = experts
    self.expert_history = expertHistory
  }

  /// Pretty, key-sorted JSON with a final newline; non-finite numbers as strings.
  public func encoded() -> [UInt8] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    enc.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    // Plain structs of numbers and strings: encoding cannot fail.
    return Array((try? enc.encode(self)) ?? Data()) + [0x0A]
  }
}
