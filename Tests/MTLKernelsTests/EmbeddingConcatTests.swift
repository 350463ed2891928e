// Embedding gather/scatter-add and column concatenation.
import MTLKernels
import Testing

@Suite struct EmbeddingTests {
  // V = 6 rows, D = 3, B = 5 lookups; ids live in column 0 of a [B, 2] block (idStride 2), the other
  // column holds a different slot whose ids must be ignored. Rows 2 and 4 repeat; rows 1, 3, 5 unused.
  static let (V, D, B, idStride) = (6, 3, 5, 2)
  static let idBlock: [Int32] = [2, 5, 4, 5, 2, 1, 0, 3, 4, 3]
  static let looked: [Int] = [2, 4, 2, 0, 4]

  @Test func embedForwardGathersRows() {
    var rng = SplitMix64(seed: 40)
    let (V, D, B) = (Self.V, Self.D, Self.B)
    let table = Buf(random: V * D, &rng)
    let y = Buf(B * D, fill: .nan)
    Self.idBlock.withUnsafeBufferPointer { ids in
      Kernels.embedForward(y: y.p, table: table.c, ids: ids.baseAddress!, idStride: Self.idStride, B: B, D: D, V: V)
    }
    let expected = Self.looked.flatMap { Array(table.array[$0 * D..<($0 + 1) * D]) }
    #expect(y.array == expected)
  }

  @Test func embedBackwardTouchesOnlyLookedUpRowsAndAccumulates() {
    var rng = SplitMix64(seed: 41)
    let (V, D, B) = (Self.V, Self.D, Self.B)
    let dtable = Buf(random: V * D, &rng)
    let before = dtable.array
    let dy = Buf(random: B * D, &rng)
    Self.idBlock.withUnsafeBufferPointer { ids in
      Kernels.embedBackward(
        dtable: dtable.p, dy: dy.c, ids: ids.baseAddress!, idStride: Self.idStride, B: B, D: D, V: V)
    }
    for row in [1, 3, 5] {
      #expect(Array(dtable.array[row * D..<(row + 1) * D]) == Array(before[row * D..<(row + 1) * D]))
    }
    // Row 2 = before + dy[0] + dy[2]; row 4 = before + dy[1] + dy[4]; row 0 = before + dy[3].
    for (row, sources) in [(2, [0, 2]), (4, [1, 4]), (0, [3])] {
      for d in 0..<D {
        let expected = sources.reduce(before[row * D + d]) { $0 + dy[$1 * D + d] }
        #expect(abs(dtable[row * D + d] - expected) <= 1e-6, "row \(row) col \(d)")
      }
    }
  }

  @Test func embedBackwardMatchesFiniteDifferencesAndNaive() {
    var rng = SplitMix64(seed: 42)
    let (V, D, B) = (Self.V, Self.D, Self.B)
    let table = Buf(random: V * D, &rng)
    let r = Buf(random: B * D, &rng)
    let y = Buf(B * D)
    Self.idBlock.withUnsafeBufferPointer { idBuffer in
      let ids = idBuffer.baseAddress!
      let objective: () -> Double = {
        Kernels.embedForward(y: y.p, table: table.c, ids: ids, idStride: Self.idStride, B: B, D: D, V: V)
        return dot(y, r)
      }
      let dtable = Buf(random: V * D, &rng)
      let before = dtable.array
      let naive = dtable.copy()
      Kernels.embedBackward(dtable: dtable.p, dy: r.c, ids: ids, idStride: Self.idStride, B: B, D: D, V: V)
      NaiveKernels.embedBackward(dtable: naive.p, dy: r.c, ids: ids, idStride: Self.idStride, B: B, D: D, V: V)
      #expect(dtable.array == naive.array)
      checkGradient("embed dtable", param: table, analytic: delta(dtable, before), objective: objective)

      let naiveY = Buf(B * D)
      NaiveKernels.embedForward(y: naiveY.p, table: table.c, ids: ids, idStride: Self.idStride, B: B, D: D, V: V)
      _ = objective()
      #expect(y.array == naiveY.array)
    }
  }
}

@Suite struct ConcatTests {
  @Test func concatLaysOutColumnsInOrder() {
    // B = 2; parts of widths 1, 2, 1.
    let a = Buf([1, 2])  // [2, 1]
    let b = Buf([10, 11, 20, 21])  // [2, 2]
    let c = Buf([100, 200])  // [2, 1]
    let y = Buf(8, fill: .nan)
    Kernels.concatForward(y: y.p, parts: [(a.c, 1), (b.c, 2), (c.c, 1)], B: 2)
    #expect(y.array == [1, 10, 11, 100, 2, 20, 21, 200])
  }

  @Test func concatBackwardMatchesFiniteDifferencesAndNaive() {
    var rng = SplitMix64(seed: 50)
    let B = 3
    let widths = [2, 3, 1]
    let parts = widths.map { Buf(random: B * $0, &rng) }
    let total = widths.reduce(0, +)
    let r = Buf(random: B * total, &rng)
    let y = Buf(B * total)
    let inputs = zip(parts, widths).map { ($0.c, $1) }
    let objective: () -> Double = {
      Kernels.concatForward(y: y.p, parts: inputs, B: B)
      return dot(y, r)
    }
    let grads = widths.map { Buf(random: B * $0, &rng) }
    let before = grads.map(\.array)
    let naiveGrads = grads.map { $0.copy() }
    // The middle part needs no gradient (nil): its buffer must stay untouched.
    let dparts = grads.enumerated().map { i, g in (i == 1 ? nil : g.p, widths[i]) }
    let naiveDparts = naiveGrads.enumerated().map { i, g in (i == 1 ? nil : g.p, widths[i]) }
    Kernels.concatBackward(dparts: dparts, dy: r.c, B: B)
    NaiveKernels.concatBackward(dparts: naiveDparts, dy: r.c, B: B)
    #expect(grads[1].array == before[1])
    for i in [0, 2] {
      #expect(grads[i].array == naiveGrads[i].array)
      checkGradient("concat part \(i)", param: parts[i], analytic: delta(grads[i], before[i]), objective: objective)
    }
    let naiveY = Buf(B * total)
    NaiveKernels.concatForward(y: naiveY.p, parts: inputs, B: B)
    _ = objective()
    #expect(y.array == naiveY.array)
    withExtendedLifetime(parts) {}
  }
}
