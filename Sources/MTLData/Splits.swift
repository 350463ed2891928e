// Train/validation/test splits and per-epoch example orders, reproducible from a seed.
//
// Both are defined so that they stream: a row's set is a function of its index alone, and an
// epoch's order visits blocks of consecutive examples, shuffling within a window of a bounded
// number of them. The in-memory source and the shard source use these same definitions, so they
// give the same batches, bit for bit.

import MTLSupport

/// Which set a data row belongs to.
public enum DataPart: Sendable, Equatable {
  case train, validation, test
}

public enum DataSplit {
  /// The set of data row `row` (0-based, among the rows kept once bad rows are dropped, counted
  /// across the train files in order): a seeded hash of the row index mapped to u in [0, 1);
  /// `test` when u < testFraction, `validation` when u < testFraction + validationFraction, else
  /// `train`. Each row is decided alone, so a split streams; the sets' sizes are binomial around
  /// the fractions (within a few √N of them), not rounded counts.
  @inline(__always)
  public static func part(row: Int, seed: UInt64, testFraction: Double, validationFraction: Double) -> DataPart {
    let u = unit(row: row, seed: seed)
    if u < testFraction { return .test }
    if u < testFraction + validationFraction { return .validation }
    return .train
  }

  /// The row's uniform draw in [0, 1): SplitMix64's finaliser over (seed, row).
  @inline(__always)
  static func unit(row: Int, seed: UInt64) -> Double {
    var z = (seed ^ 0x6A09_E667_F3BC_C909) &+ UInt64(truncatingIfNeeded: row) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Double(z >> 11) * 0x1p-53
  }

  /// The rows 0..<count that train and test by `part` (no validation), each list ascending.
  public static func holdout(count: Int, testFraction: Double, seed: UInt64) -> (train: [Int], test: [Int]) {
    precondition(count >= 0 && testFraction >= 0 && testFraction <= 1, "bad holdout arguments")
    var train: [Int] = []
    var test: [Int] = []
    for r in 0..<count {
      if part(row: r, seed: seed, testFraction: testFraction, validationFraction: 0) == .test {
        test.append(r)
      } else {
        train.append(r)
      }
    }
    return (train, test)
  }
}

/// The order in which one epoch visits the training examples 0..<count.
///
/// The examples are cut into blocks of `blockRows` consecutive ones (a shard each on disk). The
/// epoch draws from `SeededRNG(seed: seed, stream: "epoch-E")`: first a permutation of the blocks
/// (when there are several), then, over the blocks laid end to end in that order, each window of
/// `window` consecutive examples is shuffled (Fisher–Yates) in turn. So at any time the examples
/// being visited come from at most ⌈window / blockRows⌉ + 1 blocks, and any epoch can be replayed
/// without drawing the ones before it. With one block and a window covering it, the order is one
/// Fisher–Yates permutation of all examples.
public struct EpochOrder: Sendable {
  public let count: Int
  public let blockRows: Int
  public let window: Int
  var rng: SeededRNG
  let blocks: [Int]
  /// Position of the next window's first example.
  var next = 0

  public init(count: Int, seed: UInt64, epoch: Int, blockRows: Int, window: Int) {
    precondition(count >= 0 && blockRows > 0 && window > 0, "bad epoch order arguments")
    self.count = count
    self.blockRows = blockRows
    self.window = window
    rng = SeededRNG(seed: seed, stream: "epoch-\(epoch)")
    var b = Array(0..<(count == 0 ? 0 : (count - 1) / blockRows + 1))
    if b.count > 1 { rng.shuffle(&b) }
    blocks = b
  }

  /// The example at position `i` of the block sequence (before the window shuffle).
  @inline(__always)
  func example(at i: Int) -> Int {
    // Only the last block may be short, and it sits wherever the permutation put it.
    var pos = i
    for b in blocks {
      let size = min(blockRows, count - b * blockRows)
      if pos < size { return b * blockRows + pos }
      pos -= size
    }
    preconditionFailure("position \(i) out of range")
  }

  /// The next window's examples, shuffled, appended to `out`; false when the epoch is done.
  public mutating func nextWindow(into out: inout [Int]) -> Bool {
    guard next < count else { return false }
    let hi = window >= count - next ? count : next + window
    let first = out.count
    // Walk the blocks once for the window's run of positions.
    var pos = next
    var k = 0
    var start = 0
    while pos < hi {
      let b = blocks[k]
      let size = min(blockRows, count - b * blockRows)
      if pos < start + size {
        let take = min(hi, start + size) - pos
        let base = b * blockRows + (pos - start)
        for j in 0..<take { out.append(base + j) }
        pos += take
      }
      start += size
      k += 1
    }
    var slice = Array(out[first...])
    rng.shuffle(&slice)
    out.replaceSubrange(first..., with: slice)
    next = hi
    return true
  }

  /// The whole epoch's order (for small counts and tests; training walks it window by window).
  public static func permutation(
    count: Int, seed: UInt64, epoch: Int, blockRows: Int = Int.max, window: Int = Int.max
  ) -> [Int] {
    var o = EpochOrder(count: count, seed: seed, epoch: epoch, blockRows: blockRows, window: window)
    var out: [Int] = []
    out.reserveCapacity(count)
    while o.nextWindow(into: &out) {}
    return out
  }
}

/// An epoch's examples, batch by batch, holding one window of the order at a time.
public struct BatchCursor: Sendable {
  var order: EpochOrder
  var buffer: [Int] = []
  var at = 0

  public init(_ order: EpochOrder) { self.order = order }

  /// Skips the first `n` examples (a resume inside an epoch): the windows before are drawn, not
  /// visited, so the rest is exactly as if they had been.
  public mutating func skip(_ n: Int) {
    var left = n
    while left > 0 {
      if at == buffer.count { guard refill() else { return } }
      let k = min(left, buffer.count - at)
      at += k
      left -= k
    }
  }

  /// The next `size` examples (fewer at the end of the epoch; empty when it is done), into `out`.
  public mutating func next(_ size: Int, into out: inout [Int]) {
    out.removeAll(keepingCapacity: true)
    while out.count < size {
      if at == buffer.count { guard refill() else { return } }
      let k = min(size - out.count, buffer.count - at)
      out.append(contentsOf: buffer[at..<(at + k)])
      at += k
    }
  }

  mutating func refill() -> Bool {
    buffer.removeAll(keepingCapacity: true)
    at = 0
    return order.nextWindow(into: &buffer)
  }
}
