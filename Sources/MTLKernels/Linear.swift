// Dense layers: a single linear layer, and E parallel experts with separate weights.
// Fast path: one cblas_sgemm per matrix product. Reference: triple loops with Double accumulation.

// MARK: - linear: y[B,O] = x[B,I] · w[I,O] + b[O]

extension Kernels {
  /// y = x · w + b. Overwrites `y`. The activation is a separate `activationForward`.
  public static func linearForward(
    y: UnsafeMutablePointer<Float>,  // [B, O] out
    x: UnsafePointer<Float>,  // [B, I]
    w: UnsafePointer<Float>,  // [I, O]
    b: UnsafePointer<Float>?,  // [O] or nil (no bias)
    B: Int, I: Int, O: Int
  ) {
    if let b { for r in 0..<B { (y + r * O).update(from: b, count: O) } }
    BLAS.gemm(
      transA: false, transB: false, M: B, N: O, K: I, alpha: 1, a: x, lda: I, b: w, ldb: O,
      beta: b == nil ? 0 : 1, c: y, ldc: O)
  }

  /// ACCUMULATES: dw += xᵀ · dz, db += Σ_b dz[b], dx += dz · wᵀ. `dz` is the gradient of the
  /// pre-activation output (see `activationBackward`).
  public static func linearBackward(
    dx: UnsafeMutablePointer<Float>?,  // [B, I] accumulate, nil = not needed
    dw: UnsafeMutablePointer<Float>,  // [I, O] accumulate
    db: UnsafeMutablePointer<Float>?,  // [O] accumulate, nil = no bias
    dz: UnsafePointer<Float>,  // [B, O]
    x: UnsafePointer<Float>,  // [B, I]
    w: UnsafePointer<Float>,  // [I, O]
    B: Int, I: Int, O: Int
  ) {
    // dw[I,O] += xᵀ[I,B] · dz[B,O]
    BLAS.gemm(
      transA: true, transB: false, M: I, N: O, K: B, alpha: 1, a: x, lda: I, b: dz, ldb: O,
      beta: 1, c: dw, ldc: O)
    if let db {
      for r in 0..<B {
        let dzr = dz + r * O
        for o in 0..<O { db[o] += dzr[o] }
      }
    }
    // dx[B,I] += dz[B,O] · wᵀ[O,I]
    if let dx {
      BLAS.gemm(
        transA: false, transB: true, M: B, N: I, K: O, alpha: 1, a: dz, lda: O, b: w, ldb: O,
        beta: 1, c: dx, ldc: I)
    }
  }
}

extension NaiveKernels {
  public static func linearForward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
    b: UnsafePointer<Float>?, B: Int, I: Int, O: Int
  ) {
    for r in 0..<B {
      for o in 0..<O {
        var s = Double(b?[o] ?? 0)
        for i in 0..<I { s += Double(x[r * I + i]) * Double(w[i * O + o]) }
        y[r * O + o] = Float(s)
      }
    }
  }

  public static func linearBackward(
    dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>?,
    dz: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, B: Int, I: Int, O: Int
  ) {
    for i in 0..<I {
      for o in 0..<O {
        var s = 0.0
        for r in 0..<B { s += Double(x[r * I + i]) * Double(dz[r * O + o]) }
        dw[i * O + o] += Float(s)
      }
    }
    if let db {
      for o in 0..<O {
        var s = 0.0
        for r in 0..<B { s += Double(dz[r * O + o]) }
        db[o] += Float(s)
      }
    }
    if let dx {
      for r in 0..<B {
        for i in 0..<I {
          var s = 0.0
          for o in 0..<O { s += Double(dz[r * O + o]) * Double(w[i * O + o]) }
          dx[r * I + i] += Float(s)
        }
      }
    }
  }
}

// MARK: - expert linear: y[e] = x(e) · w[e] + b[e] for e in 0..<E
//
// x(e) = x[B,I] for every expert when `xShared` (experts that all read the layer input), else x[e] of
// an [E,B,I] block (the second and later layers of a stack of parallel experts).

extension Kernels {
  /// Overwrites `y`. One sgemm per expert.
  public static func expertLinearForward(
    y: UnsafeMutablePointer<Float>,  // [E, B, O] out
    x: UnsafePointer<Float>,  // [B, I] if xShared, else [E, B, I]
    xShared: Bool,
    w: UnsafePointer<Float>,  // [E, I, O]
    b: UnsafePointer<Float>?,  // [E, O] or nil
    E: Int, B: Int, I: Int, O: Int
  ) {
    for e in 0..<E {
      linearForward(
        y: y + e * B * O, x: xShared ? x : x + e * B * I, w: w + e * I * O, b: b.map { $0 + e * O },
        B: B, I: I, O: O)
    }
  }

  /// ACCUMULATES into dx, dw, db. When `xShared`, dx is [B,I] and receives the sum over experts;
  /// otherwise dx is [E,B,I].
  public static func expertLinearBackward(
    dx: UnsafeMutablePointer<Float>?,  // [B, I] if xShared, else [E, B, I]; accumulate
    dw: UnsafeMutablePointer<Float>,  // [E, I, O] accumulate
    db: UnsafeMutablePointer<Float>?,  // [E, O] accumulate
    dz: UnsafePointer<Float>,  // [E, B, O]
    x: UnsafePointer<Float>,  // [B, I] if xShared, else [E, B, I]
    xShared: Bool,
    w: UnsafePointer<Float>,  // [E, I, O]
    E: Int, B: Int, I: Int, O: Int
  ) {
    for e in 0..<E {
      linearBackward(
        dx: dx.map { xShared ? $0 : $0 + e * B * I }, dw: dw + e * I * O, db: db.map { $0 + e * O },
        dz: dz + e * B * O, x: xShared ? x : x + e * B * I, w: w + e * I * O, B: B, I: I, O: O)
    }
  }
}

extension NaiveKernels {
  public static func expertLinearForward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, xShared: Bool, w: UnsafePointer<Float>,
    b: UnsafePointer<Float>?, E: Int, B: Int, I: Int, O: Int
  ) {
    for e in 0..<E {
      for r in 0..<B {
        for o in 0..<O {
          var s = Double(b?[e * O + o] ?? 0)
          for i in 0..<I {
            let xv = xShared ? x[r * I + i] : x[(e * B + r) * I + i]
            s += Double(xv) * Double(w[(e * I + i) * O + o])
          }
          y[(e * B + r) * O + o] = Float(s)
        }
      }
    }
  }

  public static func expertLinearBackward(
    dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>?,
    dz: UnsafePointer<Float>, x: UnsafePointer<Float>, xShared: Bool, w: UnsafePointer<Float>,
    E: Int, B: Int, I: Int, O: Int
  ) {
    for e in 0..<E {
      let xe = xShared ? x : x + e * B * I
      for i in 0..<I {
        for o in 0..<O {
          var s = 0.0
          for r in 0..<B { s += Double(xe[r * I + i]) * Double(dz[(e * B + r) * O + o]) }
          dw[(e * I + i) * O + o] += Float(s)
        }
      }
      if let db {
        for o in 0..<O {
          var s = 0.0
          for r in 0..<B { s += Double(dz[(e * B + r) * O + o]) }
          db[e * O + o] += Float(s)
        }
      }
    }
    guard let dx else { return }
    // Shared input: each dx element sums over all experts (one Float rounding at the end).
    for r in 0..<B {
      for i in 0..<I {
        if xShared {
          var s = 0.0
          for e in 0..<E {
            for o in 0..<O { s += Double(dz[(e * B + r) * O + o]) * Double(w[(e * I + i) * O + o]) }
          }
          dx[r * I + i] += Float(s)
        } else {
          for e in 0..<E {
            var s = 0.0
            for o in 0..<O { s += Double(dz[(e * B + r) * O + o]) * Double(w[(e * I + i) * O + o]) }
            dx[(e * B + r) * I + i] += Float(s)
          }
        }
      }
    }
  }
}
