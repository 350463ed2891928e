// Train/test splits and per-epoch example orders, reproducible from a seed.

import MTLSupport

public enum DataSplit {
  /// Holds out round(count * testFraction) rows (half away from zero) for testing: the first ones
  /// of a Fisher–Yates permutation of 0..<count drawn from `SeededRNG(seed: seed)`; the rest
  /// train. Both lists are sorted ascending, so they do not depend on anything but the arguments.
  public static func holdout(count: Int, testFraction: Double, seed: UInt64) -> (
    train: [Int], test: [Int]
  ) {
    precondition(count >= 0 && testFraction >= 0 && testFraction <= 1, "bad holdout arguments")
    var order = Array(0..<count)
    var rng = SeededRNG(seed: seed)
    rng.shuffle(&order)
    let k = Int((Double(count) * testFraction).rounded())
    return (Array(order[k...]).sorted(), Array(order[..<k]).sorted())
  }

  /// Holds out round(total * fraction) of `rows` (the training rows left by the test holdout, in
  /// a file of `total` rows) for validation: the first ones of a Fisher–Yates permutation of
  /// `rows` drawn from `SeededRNG(seed: seed, stream: "validation")`. Both lists sorted ascending.
  public static func validation(rows: [Int], total: Int, fraction: Double, seed: UInt64) -> (
    train: [Int], validation: [Int]
  ) {
    precondition(fraction >= 0 && fraction < 1, "bad validation fraction")
    var order = rows
    var rng = SeededRNG(seed: seed, stream: "validation")
    rng.shuffle(&order)
    let k = min(rows.count, Int((Double(total) * fraction).rounded()))
    return (Array(order[k...]).sorted(), Array(order[..<k]).sorted())
  }
}

public enum EpochOrder {
  /// A permutation of 0..<count for one epoch: Fisher–Yates with
  /// `SeededRNG(seed: seed, stream: "epoch-\(epoch)")`, so every epoch has its own order and any
  /// epoch can be replayed without drawing the ones before it.
  public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    var order = Array(0..<count)
    var rng = SeededRNG(seed: seed, stream: "epoch-\(epoch)")
    rng.shuffle(&order)
    return order
  }
}
