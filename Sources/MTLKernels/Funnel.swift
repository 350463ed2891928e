// AITM's pieces that no other op has (Xi et al., KDD 2021): the attention unit's score of a
// candidate, a scaled row-wise dot product, and the funnel's calibration term. Hand-written loops:
// both are one pass over a [B, K] or [B] buffer.

extension Kernels {
  /// Overwrites y[b] = scale · Σ_k a[b, k] · c[b, k].
  public static func rowDotForward(
    y: UnsafeMutablePointer<Float>,  // [B] out
    a: UnsafePointer<Float>,  // [B, K]
    c: UnsafePointer<Float>,  // [B, K]
    scale: Float, B: Int, K: Int
  ) {
    for r in 0..<B {
      var s: Float = 0
      for k in 0..<K { s += a[r * K + k] * c[r * K + k] }
      y[r] = scale * s
    }
  }

  /// ACCUMULATES da += scale · dy ⊙ c and dc += scale · dy ⊙ a (either may be nil).
  public static func rowDotBackward(
    da: UnsafeMutablePointer<Float>?, dc: UnsafeMutablePointer<Float>?,
    dy: UnsafePointer<Float>,  // [B]
    a: UnsafePointer<Float>, c: UnsafePointer<Float>, scale: Float, B: Int, K: Int
  ) {
    for r in 0..<B {
      let g = scale * dy[r]
      if let da { for k in 0..<K { da[r * K + k] += g * c[r * K + k] } }
      if let dc { for k in 0..<K { dc[r * K + k] += g * a[r * K + k] } }
    }
  }

  /// The calibration term Σ_b weight · max(p[b] − q[b], 0) (the caller passes weight = W / batch for
  /// a mean); with gradients, ACCUMULATES dp[b] += weight and dq[b] −= weight where p[b] > q[b].
  public static func calibration(
    dp: UnsafeMutablePointer<Float>?, dq: UnsafeMutablePointer<Float>?,
    p: UnsafePointer<Float>, q: UnsafePointer<Float>, weight: Float, B: Int
  ) -> Double {
    var sum = 0.0
    for r in 0..<B where p[r] > q[r] {
      sum += Double(weight) * Double(p[r] - q[r])
      dp?[r] += weight
      dq?[r] -= weight
    }
    return sum
  }
}

extension NaiveKernels {
  public static func rowDotForward(
    y: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, c: UnsafePointer<Float>, scale: Float, B: Int, K: Int
  ) {
    for r in 0..<B {
      var s = 0.0
      for k in 0..<K { s += Double(a[r * K + k]) * Double(c[r * K + k]) }
      y[r] = Float(Double(scale) * s)
    }
  }

  public static func rowDotBackward(
    da: UnsafeMutablePointer<Float>?, dc: UnsafeMutablePointer<Float>?, dy: UnsafePointer<Float>,
    a: UnsafePointer<Float>, c: UnsafePointer<Float>, scale: Float, B: Int, K: Int
  ) {
    for r in 0..<B {
      for k in 0..<K {
        da?[r * K + k] += Float(Double(scale) * Double(dy[r]) * Double(c[r * K + k]))
        dc?[r * K + k] += Float(Double(scale) * Double(dy[r]) * Double(a[r * K + k]))
      }
    }
  }
}
