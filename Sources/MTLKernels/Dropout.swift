// Inverted dropout with a counter-based mask: element (row r, column c) of a batch is kept when
// u(seed, op, step, r, c) >= rate, u a uniform in [0, 1) from a 64-bit mix of the five numbers
// (SplitMix64's finaliser). Nothing is stored between forward and backward: the backward draws
// the same mask again. The mask depends on the batch row, not on which thread holds it, so it is
// the same for any thread count.

extension Kernels {
  /// The uniform of one element.
  @inline(__always)
  public static func dropoutUniform(key: UInt64, row: Int, column: Int) -> Float {
    var z = key &+ UInt64(truncatingIfNeeded: row) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ UInt64(truncatingIfNeeded: column) &* 0xC2B2_AE3D_27D4_EB4F) &+ 0x1656_67B1_9E37_79F9
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(z >> 40) * 0x1p-24
  }

  /// The key of one op's masks at one step.
  public static func dropoutKey(seed: UInt64, op: Int, step: Int) -> UInt64 {
    var z = seed ^ 0x6472_6F70_6F75_74  // "dropout"
    z = (z ^ UInt64(truncatingIfNeeded: op)) &* 0xFF51_AFD7_ED55_8CCD
    z = (z ^ UInt64(truncatingIfNeeded: step)) &* 0xC4CE_B9FE_1A85_EC53
    return z ^ (z >> 33)
  }

  /// y = x·mask/(1 − rate) for rows firstRow..<firstRow+B of the batch (W floats a row).
  public static func dropoutForward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, B: Int, W: Int, rate: Float, key: UInt64, firstRow: Int
  ) {
    let scale = 1 / (1 - rate)
    for r in 0..<B {
      for c in 0..<W {
        let i = r * W + c
        y[i] = dropoutUniform(key: key, row: firstRow + r, column: c) >= rate ? x[i] * scale : 0
      }
    }
  }

  /// ACCUMULATES dx += dy·mask/(1 − rate), with the forward's mask.
  public static func dropoutBackward(
    dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, B: Int, W: Int, rate: Float, key: UInt64,
    firstRow: Int
  ) {
    let scale = 1 / (1 - rate)
    for r in 0..<B {
      for c in 0..<W where dropoutUniform(key: key, row: firstRow + r, column: c) >= rate {
        let i = r * W + c
        dx[i] += dy[i] * scale
      }
    }
  }
}

extension NaiveKernels {
  /// The mask as an array of 0/1 (tests).
  public static func dropoutMask(B: Int, W: Int, rate: Float, key: UInt64, firstRow: Int) -> [Float] {
    var m: [Float] = []
    for r in 0..<B {
      for c in 0..<W { m.append(Kernels.dropoutUniform(key: key, row: firstRow + r, column: c) >= rate ? 1 : 0) }
    }
    return m
  }
}
