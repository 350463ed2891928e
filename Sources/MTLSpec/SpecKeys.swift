/// The keys of every mapping in the spec language, in one place: the decoder checks each mapping
/// against its table (unknown keys E0201, missing required keys E0203), and `SpecSchema` writes
/// the JSON Schema from the same tables, so the two cannot disagree on which keys exist.
public enum SpecKeys {
  public struct Table: Sendable {
    public let allowed: [String]
    public let required: [String]
    init(_ allowed: [String], required: [String] = []) {
      self.allowed = allowed
      self.required = required
    }
  }

  public static let top = Table(
    ["mtlc", "name", "description", "data", "features", "tasks", "experts", "gates", "towers", "training"],
    required: ["mtlc", "data", "features", "tasks"])
  public static let data = Table(
    [
      "train", "test", "test_fraction", "split_seed", "delimiter", "missing", "on_bad_row", "validation",
      "validation_fraction", "columns", "streaming", "shard_rows", "shuffle_window",
    ], required: ["train"])
  public static let feature = Table(
    ["name", "column", "kind", "embedding_dim", "embedding", "vocabulary", "multi", "normalize", "missing"],
    required: ["name", "kind"])
  public static let multi = Table(["separator", "max_length", "pooling"], required: ["max_length"])
  public static let vocabulary = Table(["min_count", "max_size", "values", "hash_buckets"])
  public static let task = Table(
    ["type", "label", "loss_weight", "tower", "output", "where", "positive_weight", "calibration"],
    required: ["type"])
  public static let label = Table(
    ["column", "positive", "threshold", "classes", "missing", "normalize"], required: ["column"])
  public static let sampleSpace = Table(["column", "positive", "threshold"], required: ["column"])
  public static let output = Table(["product"], required: ["product"])
  public static let expert = Table(
    ["count", "input", "units", "activation", "dropout", "batch_norm"], required: ["count", "input", "units"])
  public static let activation = Table(["type", "slope"], required: ["type"])
  public static let gate = Table(
    ["input", "experts", "units", "activation", "dropout", "batch_norm", "bias"], required: ["input", "experts"])
  public static let tower = Table(
    ["input", "units", "activation", "dropout", "batch_norm", "transfer"], required: ["input", "units"])
  public static let transfer = Table(["from", "units"], required: ["from"])
  public static let training = Table([
    "optimizer", "batch_size", "epochs", "seed", "l2", "clip_norm", "loss_balancing", "early_stopping", "schedule",
    "gradient_cosine",
  ])
  public static let lossBalancing = Table(["method", "alpha"], required: ["method"])
  public static let earlyStopping = Table(["monitor", "patience", "min_delta"], required: ["monitor"])
  public static let schedule = Table(["warmup_steps", "decay", "decay_steps", "decay_rate", "min_rate"])
  public static let l2 = Table(["embeddings", "weights"])
  public static let optimizer = Table(
    ["type", "learning_rate", "beta1", "beta2", "epsilon", "momentum", "initial_accumulator", "weight_decay"],
    required: ["type"])
}
