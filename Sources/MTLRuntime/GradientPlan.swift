import MTLGraph

/// When each activation gradient is written, read and dead during backward, and which buffer it
/// lives in: gradients whose lifetimes do not overlap share a buffer.
///
/// Backward runs the ops in reverse; call that position the step s (s = -1 is the loss seeding).
/// A value's gradient is born at its first write (a loss seed, or the first consumer's backward)
/// and dies after its producer's backward has read it. The first writer overwrites when it is a
/// matrix product (β = 0); otherwise the buffer is zeroed just before that first write.
struct GradientPlan {
  /// Whether a value's gradient is needed at all (some parameter is upstream of it).
  var needsGrad: [Bool]
  /// Per op: its input gradient is that buffer's first write, so the product overwrites it.
  var overwriteDX: [Bool]
  /// Per op: gradients to zero just before its backward (their first write accumulates).
  var zeroBefore: [[ValueID]]
  /// Gradients to zero before the losses seed them.
  var zeroAtLosses: [ValueID]
  /// Per op: nothing ever writes its output's gradient, so its backward would add zeros: skipped.
  var skip: [Bool]
  /// Per value: the buffer its gradient uses (nil when no gradient is needed).
  var slot: [Int?]
  /// Size of each buffer, in floats per batch row.
  var slotRowWidth: [Int]

  init(graph g: Graph) {
    let n = g.values.count
    var ng = Array(repeating: false, count: n)
    for op in g.ops { ng[op.output] = !op.params.isEmpty || op.inputs.contains { ng[$0] } }
    needsGrad = ng
    let steps = g.ops.count
    func step(_ op: Int) -> Int { steps - 1 - op }
    var producer = Array(repeating: -1, count: n)
    for (i, op) in g.ops.enumerated() { producer[op.output] = i }

    var firstWrite = Array(repeating: Int.max, count: n)
    var overwrite = Array(repeating: false, count: steps)
    var zeroBefore = Array(repeating: [ValueID](), count: steps)
    var zeroAtLosses: [ValueID] = []
    var skip = Array(repeating: false, count: steps)
    let lossInputs = g.losses.map(\.input) + (g.calibrations ?? []).flatMap { [$0.input, $0.upstream] }
    for v in lossInputs where ng[v] && firstWrite[v] == Int.max {
      firstWrite[v] = -1
      zeroAtLosses.append(v)
    }
    for i in g.ops.indices.reversed() {
      let op = g.ops[i]
      guard ng[op.output] else { continue }
      guard firstWrite[op.output] != Int.max else {
        skip[i] = true  // its output's gradient is never written: zero
        continue
      }
      let writes: [ValueID]
      switch op.kind {
      case .embed, .denseInput: writes = []
      case .linear, .expertLinear, .softmax, .sigmoid, .dropout, .batchNorm, .activation: writes = [op.inputs[0]]
      case .concat, .mix, .product, .dot: writes = op.inputs
      }
      for v in writes where ng[v] && firstWrite[v] == Int.max {
        firstWrite[v] = step(i)
        if op.kind == .linear || op.kind == .expertLinear {
          overwrite[i] = true
        } else {
          zeroBefore[i].append(v)
        }
      }
    }
    overwriteDX = overwrite
    self.zeroBefore = zeroBefore
    self.zeroAtLosses = zeroAtLosses
    self.skip = skip

    // Lifetimes [firstWrite, last read at the producer's backward]; greedy assignment in birth
    // order, reusing the smallest free buffer that is large enough.
    var slot = [Int?](repeating: nil, count: n)
    var widths: [Int] = []
    var freeAt: [Int] = []  // per buffer: the step after which it is free
    let live = (0..<n).filter { ng[$0] && firstWrite[$0] != Int.max && producer[$0] >= 0 && !skip[producer[$0]] }
    for v in live.sorted(by: { (firstWrite[$0], $0) < (firstWrite[$1], $1) }) {
      let born = firstWrite[v]
      let dies = step(producer[v])
      let need = g.values[v].rowWidth
      let candidates = widths.indices.filter { freeAt[$0] < born && widths[$0] >= need }
      if let b = candidates.min(by: { (widths[$0], $0) < (widths[$1], $1) }) {
        slot[v] = b
        freeAt[b] = dies
      } else {
        slot[v] = widths.count
        widths.append(need)
        freeAt.append(dies)
      }
    }
    self.slot = slot
    slotRowWidth = widths
  }
}
