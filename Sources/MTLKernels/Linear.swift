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

  /// y = act(x · w + b): the product, then bias and activation fused into one pass over y (the
  /// training step's forward for every dense layer). Overwrites `y`.
  public static func linearActForward(
    y: UnsafeMutablePointer<Float>,  // [B, O] out
    x: UnsafePointer<Float>,  // [B, I]
    w: UnsafePointer<Float>,  // [I, O]
    b: UnsafePointer<Float>?,  // [O] or nil
    act: Act, B: Int, I: Int, O: Int
  ) {
    BLAS.gemm(
      transA: false, transB: false, M: B, N: O, K: I, alpha: 1, a: x, lda: I, b: w, ldb: O, beta: 0, c: y, ldc: O)
    biasActivation(y, b, act: act, rows: B, cols: O)
  }

  /// y[r, :] = act(y[r, :] + b), in one pass for relu.
  static func biasActivation(
    _ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>?, act: Act, rows: Int, cols: Int
  ) {
    if act == .relu {
      Vector.biasRelu(y, b, rows: rows, cols: cols)
      return
    }
    if let b { Vector.addBias(y, b, rows: rows, cols: cols) }
    activationForward(act: act, y: y, x: y, N: rows * cols)
  }

  /// ACCUMULATES: dw += xᵀ · dz, db += Σ_b dz[b], dx += dz · wᵀ. `dz` is the gradient of the
  /// pre-activation output (see `activationBackward`).
  /// With `overwriteDX`, dx is overwritten instead (the planner's choice when this op is the first
  /// to write that gradient, which then needs no zeroing).
  public static func linearBackward(
    dx: UnsafeMutablePointer<Float>?,  // [B, I] accumulate, nil = not needed
    dw: UnsafeMutablePointer<Float>,  // [I, O] accumulate
    db: UnsafeMutablePointer<Float>?,  // [O] accumulate, nil = no bias
    dz: UnsafePointer<Float>,  // [B, O]
    x: UnsafePointer<Float>,  // [B, I]
    w: UnsafePointer<Float>,  // [I, O]
    B: Int, I: Int, O: Int, overwriteDX: Bool = false
  ) {
    // dw[I,O] += xᵀ[I,B] · dz[B,O]
    BLAS.gemm(
      transA: true, transB: false, M: I, N: O, K: B, alpha: 1, a: x, lda: I, b: dz, ldb: O,
      beta: 1, c: dw, ldc: O)
    if let db { Vector.addColumnSums(db, dz, rows: B, cols: O) }
    // dx[B,I] += dz[B,O] · wᵀ[O,I]
    if let dx {
      BLAS.gemm(
        transA: false, transB: true, M: B, N: I, K: O, alpha: 1, a: dz, lda: O, b: w, ldb: O,
        beta: overwriteDX ? 0 : 1, c: dx, ldc: I)
    }
  }
}

extension NaiveKernels {
  public static func linearActForward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, b: UnsafePointer<Float>?,
    act: Act, B: Int, I: Int, O: Int
  ) {
    linearForward(y: y, x: x, w: w, b: b, B: B, I: I, O: O)
    activationForward(act: act, y: y, x: y, N: B * O)
  }

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

// MARK: - expert linear: y[:,e] = x[:,e] · w[e] + b[e] for e in 0..<E
//
// Stacked experts are stored batch-major: [B, E, W], so that one row of the batch holds every
// expert's activations side by side. The first layer of a stack reads a shared [B, I] input and is
// one wide `linearForward` with w [I, E·O] (the compiler lowers it so); the later layers use these
// kernels: one sgemm per expert over strided rows (lda = E·I, ldc = E·O).

extension Kernels {
  /// y = act(x_e · w[e] + b[e]) for every expert. Overwrites `y`. One sgemm per expert, then the
  /// bias and activation of all experts in one pass.
  public static func expertLinearForward(
    y: UnsafeMutablePointer<Float>,  // [B, E, O] out
    x: UnsafePointer<Float>,  // [B, E, I]
    w: UnsafePointer<Float>,  // [E, I, O]
    b: UnsafePointer<Float>?,  // [E, O] or nil
    act: Act = .none, E: Int, B: Int, I: Int, O: Int
  ) {
    for e in 0..<E {
      BLAS.gemm(
        transA: false, transB: false, M: B, N: O, K: I, alpha: 1, a: x + e * I, lda: E * I, b: w + e * I * O, ldb: O,
        beta: 0, c: y + e * O, ldc: E * O)
    }
    biasActivation(y, b, act: act, rows: B, cols: E * O)
  }

  /// ACCUMULATES dx += dz_e · w[e]ᵀ, dw[e] += x_eᵀ · dz_e, db[e] += Σ_b dz_e.
  public static func expertLinearBackward(
    dx: UnsafeMutablePointer<Float>?,  // [B, E, I] accumulate
    dw: UnsafeMutablePointer<Float>,  // [E, I, O] accumulate
    db: UnsafeMutablePointer<Float>?,  // [E, O] accumulate
    dz: UnsafePointer<Float>,  // [B, E, O]
    x: UnsafePointer<Float>,  // [B, E, I]
    w: UnsafePointer<Float>,  // [E, I, O]
    E: Int, B: Int, I: Int, O: Int, overwriteDX: Bool = false
  ) {
    if let db { Vector.addColumnSums(db, dz, rows: B, cols: E * O) }
    for e in 0..<E {
      BLAS.gemm(
        transA: true, transB: false, M: I, N: O, K: B, alpha: 1, a: x + e * I, lda: E * I, b: dz + e * O,
        ldb: E * O, beta: 1, c: dw + e * I * O, ldc: O)
      if let dx {
        BLAS.gemm(
          transA: false, transB: true, M: B, N: I, K: O, alpha: 1, a: dz + e * O, lda: E * O, b: w + e * I * O,
          ldb: O, beta: overwriteDX ? 0 : 1, c: dx + e * I, ldc: E * I)
      }
    }
  }
}

extension NaiveKernels {
  public static func expertLinearForward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, b: UnsafePointer<Float>?,
    act: Act = .none, E: Int, B: Int, I: Int, O: Int
  ) {
    defer { activationForward(act: act, y: y, x: y, N: B * E * O) }
    for e in 0..<E {
      for r in 0..<B {
        for o in 0..<O {
          var s = Double(b?[e * O + o] ?? 0)
          for i in 0..<I { s += Double(x[(r * E + e) * I + i]) * Double(w[(e * I + i) * O + o]) }
          y[(r * E + e) * O + o] = Float(s)
        }
      }
    }
  }

  public static func expertLinearBackward(
    dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>?,
    dz: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>, E: Int, B: Int, I: Int, O: Int
  ) {
    for e in 0..<E {
      for i in 0..<I {
        for o in 0..<O {
          var s = 0.0
          for r in 0..<B { s += Double(x[(r * E + e) * I + i]) * Double(dz[(r * E + e) * O + o]) }
          dw[(e * I + i) * O + o] += Float(s)
        }
      }
      if let db {
        for o in 0..<O {
          var s = 0.0
          for r in 0..<B { s += Double(dz[(r * E + e) * O + o]) }
          db[e * O + o] += Float(s)
        }
      }
      guard let dx else { continue }
      for r in 0..<B {
        for i in 0..<I {
          var s = 0.0
          for o in 0..<O { s += Double(dz[(r * E + e) * O + o]) * Double(w[(e * I + i) * O + o]) }
          dx[(r * E + e) * I + i] += Float(s)
        }
      }
    }
  }
}
