// Batch normalisation over rows, C channels a row (the channels of an expert stack [B, E, W] are
// its E·W elements): y = act(γ·x̂ + β), x̂ = (x − μ)·s, s = 1/√(σ² + ε). The statistics of a batch
// are sums over every thread's rows, so the kernels are split where the threads meet: each
// thread sums its rows (`batchNormSums`), the executor adds the threads' sums in order, and each
// thread then normalises its rows; backward likewise (`batchNormBackwardSums`, then
// `batchNormBackwardInput`). Sums are in Double.

extension Kernels {
  /// Keras' default ε.
  public static let batchNormEpsilon: Float = 1e-3

  /// OVERWRITES sums[0..<C] with Σ_rows x and sums[C..<2C] with Σ_rows x².
  public static func batchNormSums(
    sums: UnsafeMutablePointer<Double>,  // [2C] out
    x: UnsafePointer<Float>,  // [B, C]
    B: Int, C: Int
  ) {
    sums.update(repeating: 0, count: 2 * C)
    for r in 0..<B {
      let row = x + r * C
      for c in 0..<C {
        let v = Double(row[c])
        sums[c] += v
        sums[C + c] += v * v
      }
    }
  }

  /// y = act(γ·(x − μ)·s + β).
  public static func batchNormForward(
    y: UnsafeMutablePointer<Float>,  // [B, C] out
    x: UnsafePointer<Float>,  // [B, C]
    mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,  // [C]
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,  // [C]
    act: Act, B: Int, C: Int
  ) {
    for r in 0..<B {
      let xr = x + r * C
      let yr = y + r * C
      for c in 0..<C { yr[c] = gamma[c] * ((xr[c] - mean[c]) * invStd[c]) + beta[c] }
    }
    if act != .none { activationForward(act: act, y: y, x: y, N: B * C) }
  }

  /// The first half of backward: dz = dy·act′ (OVERWRITING dy), sums[0..<C] = Σ dz and
  /// sums[C..<2C] = Σ dz·x̂ over this thread's rows, and dγ += Σ dz·x̂, dβ += Σ dz.
  public static func batchNormBackwardSums(
    sums: UnsafeMutablePointer<Double>,  // [2C] out
    dy: UnsafeMutablePointer<Float>,  // [B, C] in: ∂/∂y; out: ∂/∂z (z = γ·x̂ + β)
    y: UnsafePointer<Float>, x: UnsafePointer<Float>,  // [B, C]
    mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
    dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>,  // [C] accumulate
    act: Act, B: Int, C: Int
  ) {
    if act != .none { activationBackward(act: act, dz: dy, dy: dy, y: y, N: B * C) }
    sums.update(repeating: 0, count: 2 * C)
    for r in 0..<B {
      let dz = dy + r * C
      let xr = x + r * C
      for c in 0..<C {
        let xhat = Double((xr[c] - mean[c]) * invStd[c])
        sums[c] += Double(dz[c])
        sums[C + c] += Double(dz[c]) * xhat
      }
    }
    for c in 0..<C {
      dgamma[c] += Float(sums[C + c])
      dbeta[c] += Float(sums[c])
    }
  }

  /// The second half: ACCUMULATES dx += γ·s·(dz − mean(dz) − x̂·mean(dz·x̂)), the means over the
  /// whole batch (`meanDz`, `meanDzXhat`).
  public static func batchNormBackwardInput(
    dx: UnsafeMutablePointer<Float>,  // [B, C] accumulate
    dz: UnsafePointer<Float>, x: UnsafePointer<Float>,  // [B, C]
    mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    meanDz: UnsafePointer<Float>, meanDzXhat: UnsafePointer<Float>,  // [C]
    B: Int, C: Int
  ) {
    for r in 0..<B {
      let d = dx + r * C
      let dzr = dz + r * C
      let xr = x + r * C
      for c in 0..<C {
        let xhat = (xr[c] - mean[c]) * invStd[c]
        d[c] += gamma[c] * invStd[c] * (dzr[c] - meanDz[c] - xhat * meanDzXhat[c])
      }
    }
  }
}

extension NaiveKernels {
  /// The whole layer in Double on one batch: the training-mode output (batch statistics, biased
  /// variance), for tests.
  public static func batchNormTraining(x: [Float], gamma: [Float], beta: [Float], B: Int, C: Int) -> [Float] {
    var y = [Float](repeating: 0, count: B * C)
    for c in 0..<C {
      let col = (0..<B).map { Double(x[$0 * C + c]) }
      let m = col.reduce(0, +) / Double(B)
      let v = col.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(B)
      for r in 0..<B {
        y[r * C + c] = Float(
          Double(gamma[c]) * (col[r] - m) / (v + Double(Kernels.batchNormEpsilon)).squareRoot() + Double(beta[c]))
      }
    }
    return y
  }
}
