// Embedding bags (multi-valued features): pooling by sum, mean and max over the valid ids of a row
// (-1 pads, anywhere in the row), against the naive twin and finite differences; an empty bag.
import MTLKernels
import Testing

@Suite struct EmbeddingBagTests {
  // V = 8 rows (row 7 never looked up), D = 3, B = 5 bags of L = 4 ids in columns 1...4 of a [B, 6] block (idStride 6):
  // a full bag with a repeat, a bag padded at the end, one with padding in the middle, an empty
  // bag, a bag of one. Columns 0 and 5 belong to other features and must be ignored.
  static let (V, D, B, L, idStride) = (8, 3, 5, 4, 6)
  static let idBlock: [Int32] = [
    6, 2, 5, 2, 1, 0,
    0, 4, 3, -1, -1, 6,
    5, -1, 6, -1, 0, 1,
    1, -1, -1, -1, -1, 2,
    3, 5, -1, -1, -1, 4,
  ]

  @Test(arguments: BagPooling.allCases)
  func forwardMatchesNaiveAndBackwardMatchesFiniteDifferences(pooling: BagPooling) {
    var rng = SplitMix64(seed: 50 + UInt64(pooling.rawValue))
    let (V, D, B, L, S) = (Self.V, Self.D, Self.B, Self.L, Self.idStride)
    let table = Buf(random: V * D, &rng)
    let r = Buf(random: B * D, &rng)
    let y = Buf(B * D, fill: .nan)
    Self.idBlock.withUnsafeBufferPointer { block in
      let ids = block.baseAddress! + 1
      let objective: () -> Double = {
        Kernels.embedBagForward(y: y.p, table: table.c, ids: ids, idStride: S, L: L, pooling: pooling, B: B, D: D, V: V)
        return dot(y, r)
      }
      _ = objective()
      let naiveY = Buf(B * D, fill: .nan)
      NaiveKernels.embedBagForward(
        y: naiveY.p, table: table.c, ids: ids, idStride: S, L: L, pooling: pooling, B: B, D: D, V: V)
      expectClose(y.array, naiveY.array, "\(pooling) y")
      // The empty bag (row 3) pools to zeros.
      #expect(Array(y.array[3 * D..<4 * D]) == [0, 0, 0])

      let dtable = Buf(random: V * D, &rng)
      let before = dtable.array
      let naive = dtable.copy()
      Kernels.embedBagBackward(
        dtable: dtable.p, dy: r.c, table: table.c, ids: ids, idStride: S, L: L, pooling: pooling, B: B, D: D, V: V)
      NaiveKernels.embedBagBackward(
        dtable: naive.p, dy: r.c, table: table.c, ids: ids, idStride: S, L: L, pooling: pooling, B: B, D: D, V: V)
      expectClose(dtable.array, naive.array, "\(pooling) dtable")
      // Row 7 is in no bag: untouched.
      #expect(Array(dtable.array[7 * D..<8 * D]) == Array(before[7 * D..<8 * D]))
      let delta = zip(dtable.array, before).map { $0 - $1 }
      checkGradient("\(pooling) dtable", param: table, analytic: delta, objective: objective)
    }
  }

  @Test func meanDividesByTheValidIdsOnly() {
    // One bag [2, -1, 2, -1] of a 1-wide table: mean = table[2], and its gradient dy all goes to row 2.
    let table = Buf([10, 20, 30])
    let ids: [Int32] = [2, -1, 2, -1]
    let y = Buf(1)
    let dtable = Buf(3)
    let dy = Buf([1])
    ids.withUnsafeBufferPointer { p in
      Kernels.embedBagForward(
        y: y.p, table: table.c, ids: p.baseAddress!, idStride: 4, L: 4, pooling: .mean, B: 1, D: 1)
      Kernels.embedBagBackward(
        dtable: dtable.p, dy: dy.c, table: table.c, ids: p.baseAddress!, idStride: 4, L: 4, pooling: .mean, B: 1, D: 1)
    }
    #expect(y.array == [30])
    #expect(dtable.array == [0, 0, 1])
  }

  @Test func maxSendsTheGradientToTheFirstMaximum() {
    // Rows 0 and 2 tie at 5 in column 0; row 1 wins column 1.
    let table = Buf([5, 0, 1, 9, 5, 0])
    let ids: [Int32] = [0, 1, 2]
    let y = Buf(2)
    let dtable = Buf(6)
    let dy = Buf([1, 2])
    ids.withUnsafeBufferPointer { p in
      Kernels.embedBagForward(y: y.p, table: table.c, ids: p.baseAddress!, idStride: 3, L: 3, pooling: .max, B: 1, D: 2)
      Kernels.embedBagBackward(
        dtable: dtable.p, dy: dy.c, table: table.c, ids: p.baseAddress!, idStride: 3, L: 3, pooling: .max, B: 1, D: 2)
    }
    #expect(y.array == [5, 9])
    #expect(dtable.array == [1, 0, 0, 2, 0, 0])
  }
}
