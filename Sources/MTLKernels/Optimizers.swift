// Per-parameter optimiser update rules (Keras/TF semantics), in place over flat [N] buffers, and the two
// reductions used for global-norm gradient clipping. Hand-written loops: BLAS has no optimiser kernels,
// and its `cblas_dsdot` rounds each product to Float, which is not the Double sum `sumOfSquares` promises.
import Foundation

// MARK: - Adam
//   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²
//   lr_t = lr · sqrt(1 − β2^t) / (1 − β1^t)     (bias corrections in Double)
//   w −= lr_t · m / (sqrt(v) + ε)                 (Keras: ε is added to sqrt(v), not to v̂)

extension Kernels {
  /// One Adam step at 1-based step `t`. Updates w, m, v in place; `g` is read only.
  public static func adamStep(
    w: UnsafeMutablePointer<Float>,  // [N] parameters
    g: UnsafePointer<Float>,  // [N] gradient
    m: UnsafeMutablePointer<Float>,  // [N] first moment (starts at 0)
    v: UnsafeMutablePointer<Float>,  // [N] second moment (starts at 0)
    N: Int, lr: Float, beta1: Float, beta2: Float, eps: Float, t: Int
  ) {
    precondition(t >= 1, "adamStep: t is the 1-based step")
    let correction = sqrt(1 - pow(Double(beta2), Double(t))) / (1 - pow(Double(beta1), Double(t)))
    let lrT = Float(Double(lr) * correction)
    let c1 = 1 - beta1
    let c2 = 1 - beta2
    // 8 at a time (the pointers may alias as far as the compiler knows, so it would not vectorise).
    let (b1v, b2v, c1v, c2v) = (F8(repeating: beta1), F8(repeating: beta2), F8(repeating: c1), F8(repeating: c2))
    let (lrv, epsv) = (F8(repeating: lrT), F8(repeating: eps))
    var i = 0
    while i + 8 <= N {
      let gi = load8(g + i)
      let mi = b1v * load8(m + i) + c1v * gi
      let vi = b2v * load8(v + i) + c2v * gi * gi
      store8(mi, m + i)
      store8(vi, v + i)
      store8(load8(w + i) - lrv * mi / (vi.squareRoot() + epsv), w + i)
      i += 8
    }
    while i < N {
      let gi = g[i]
      let mi = beta1 * m[i] + c1 * gi
      let vi = beta2 * v[i] + c2 * gi * gi
      m[i] = mi
      v[i] = vi
      w[i] -= lrT * mi / (vi.squareRoot() + eps)
      i += 1
    }
  }
}

extension NaiveKernels {
  public static func adamStep(
    w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, N: Int, lr: Float, beta1: Float, beta2: Float, eps: Float, t: Int
  ) {
    let b1 = Double(beta1)
    let b2 = Double(beta2)
    let lrT = Double(lr) * sqrt(1 - pow(b2, Double(t))) / (1 - pow(b1, Double(t)))
    for i in 0..<N {
      let gi = Double(g[i])
      let mi = b1 * Double(m[i]) + (1 - b1) * gi
      let vi = b2 * Double(v[i]) + (1 - b2) * gi * gi
      m[i] = Float(mi)
      v[i] = Float(vi)
      w[i] = Float(Double(w[i]) - lrT * mi / (sqrt(vi) + Double(eps)))
    }
  }
}

// MARK: - Adagrad (Keras): acc += g²;  w −= lr · g / (sqrt(acc) + ε).  The caller initialises acc to 0.1.

extension Kernels {
  public static func adagradStep(
    w: UnsafeMutablePointer<Float>,  // [N] parameters
    g: UnsafePointer<Float>,  // [N] gradient
    acc: UnsafeMutablePointer<Float>,  // [N] accumulator
    N: Int, lr: Float, eps: Float
  ) {
    for i in 0..<N {
      let gi = g[i]
      let a = acc[i] + gi * gi
      acc[i] = a
      w[i] -= lr * gi / (a.squareRoot() + eps)
    }
  }
}

extension NaiveKernels {
  public static func adagradStep(
    w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>, N: Int,
    lr: Float, eps: Float
  ) {
    for i in 0..<N {
      let gi = Double(g[i])
      let a = Double(acc[i]) + gi * gi
      acc[i] = Float(a)
      w[i] = Float(Double(w[i]) - Double(lr) * gi / (sqrt(a) + Double(eps)))
    }
  }
}

// MARK: - SGD with momentum (Keras): v = momentum · v − lr · g;  w += v.
// With velocity = nil (no momentum slot): w −= lr · g.

extension Kernels {
  public static func sgdStep(
    w: UnsafeMutablePointer<Float>,  // [N] parameters
    g: UnsafePointer<Float>,  // [N] gradient
    velocity: UnsafeMutablePointer<Float>?,  // [N] velocity (starts at 0), or nil for plain SGD
    N: Int, lr: Float, momentum: Float
  ) {
    guard let velocity else {
      for i in 0..<N { w[i] -= lr * g[i] }
      return
    }
    for i in 0..<N {
      let vi = momentum * velocity[i] - lr * g[i]
      velocity[i] = vi
      w[i] += vi
    }
  }
}

extension NaiveKernels {
  public static func sgdStep(
    w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, velocity: UnsafeMutablePointer<Float>?, N: Int,
    lr: Float, momentum: Float
  ) {
    for i in 0..<N {
      let vi = Double(momentum) * Double(velocity?[i] ?? 0) - Double(lr) * Double(g[i])
      velocity?[i] = Float(vi)
      w[i] = Float(Double(w[i]) + vi)
    }
  }
}

// MARK: - global-norm clipping helpers

extension Kernels {
  /// Σ x², products and sums in Double. Four independent accumulators break the add dependency chain.
  public static func sumOfSquares(
    x: UnsafePointer<Float>,  // [N]
    N: Int
  ) -> Double {
    var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
    var i = 0
    while i + 4 <= N {
      let (a, b, c, d) = (Double(x[i]), Double(x[i + 1]), Double(x[i + 2]), Double(x[i + 3]))
      s0 += a * a
      s1 += b * b
      s2 += c * c
      s3 += d * d
      i += 4
    }
    while i < N {
      let a = Double(x[i])
      s0 += a * a
      i += 1
    }
    return (s0 + s1) + (s2 + s3)
  }

  /// x *= factor, in place.
  public static func scale(
    x: UnsafeMutablePointer<Float>,  // [N]
    N: Int, factor: Float
  ) {
    for i in 0..<N { x[i] *= factor }
  }
}

extension NaiveKernels {
  public static func sumOfSquares(x: UnsafePointer<Float>, N: Int) -> Double {
    var s = 0.0
    for i in 0..<N { s += Double(x[i]) * Double(x[i]) }
    return s
  }

  public static func scale(x: UnsafeMutablePointer<Float>, N: Int, factor: Float) {
    for i in 0..<N { x[i] = Float(Double(x[i]) * Double(factor)) }
  }
}
