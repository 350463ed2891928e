// Per-task losses and the L2 penalty. Hand-written: B-length reductions, nothing for BLAS to do.
//
// Each loss returns the batch-MEAN loss (unweighted, summed in Double) and OVERWRITES the gradient
// buffer with ∂(weight · mean loss)/∂input, i.e. the per-task loss weight and the 1/B of the mean are
// already folded in. Pass nil to only evaluate the loss.
//
// Labels `y` are read with a stride so they can stay in a [B, L] row-major label block:
// pass `labels + taskColumn` and yStride = L. A plain [B] vector has yStride = 1.
import Foundation

// MARK: - binary cross-entropy on logits
//   loss_b = max(z,0) − z·y + log(1 + e^−|z|)        grad_b = weight · (σ(z) − y) / B
// Stable for any finite z (|z| = 1e4 gives exact, finite values).

extension Kernels {
  public static func bceLogits(
    dz: UnsafeMutablePointer<Float>?,  // [B] out (overwritten)
    z: UnsafePointer<Float>,  // [B] logits
    y: UnsafePointer<Float>,  // [B] labels in [0,1], stride yStride
    yStride: Int,
    B: Int, weight: Float
  ) -> Double {
    guard B > 0 else { return 0 }
    let scale = weight / Float(B)
    var sum = 0.0
    for r in 0..<B {
      let zr = z[r]
      let yr = y[r * yStride]
      let zd = Double(zr)
      sum += max(zd, 0) - zd * Double(yr) + log1p(exp(-abs(zd)))
      dz?[r] = scale * (sigmoid(zr) - yr)
    }
    return sum / Double(B)
  }
}

extension NaiveKernels {
  public static func bceLogits(
    dz: UnsafeMutablePointer<Float>?, z: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int,
    B: Int, weight: Float
  ) -> Double {
    // −[y log σ(z) + (1−y) log(1−σ(z))] = y·softplus(−z) + (1−y)·softplus(z).
    func softplus(_ t: Double) -> Double { max(t, 0) + log1p(exp(-abs(t))) }
    var sum = 0.0
    for r in 0..<B {
      let zd = Double(z[r])
      let yd = Double(y[r * yStride])
      sum += yd * softplus(-zd) + (1 - yd) * softplus(zd)
      dz?[r] = Float(Double(weight) * (1 / (1 + exp(-zd)) - yd) / Double(B))
    }
    return B > 0 ? sum / Double(B) : 0
  }
}

// MARK: - binary cross-entropy on probabilities (Keras `binary_crossentropy`, from_logits = false)
//   p is clipped to [ε, 1−ε], ε = 1e-7, with the bounds rounded to Float as Keras does in float32;
//   loss_b = −[y log p̂ + (1−y) log(1−p̂)]
//   grad_b = weight · (−y/p̂ + (1−y)/(1−p̂)) / B inside the clip range, 0 where p was clipped.
//   (Keras also adds ε inside the logs; that shifts the loss by ~1e-7 relative and is not copied.)

extension Kernels {
  /// Lower and upper clip bounds of `bceProb`, in Float: 1e-7 and 1 − 1e-7 (= 0.99999988).
  public static let bceProbClip: (lo: Float, hi: Float) = (1e-7, 1 - 1e-7)

  public static func bceProb(
    dp: UnsafeMutablePointer<Float>?,  // [B] out (overwritten)
    p: UnsafePointer<Float>,  // [B] probabilities
    y: UnsafePointer<Float>,  // [B] labels, stride yStride
    yStride: Int,
    B: Int, weight: Float
  ) -> Double {
    guard B > 0 else { return 0 }
    let (lo, hi) = bceProbClip
    let scale = Double(weight) / Double(B)
    var sum = 0.0
    for r in 0..<B {
      let pr = p[r]
      let pc = Double(min(max(pr, lo), hi))
      let yd = Double(y[r * yStride])
      sum -= yd * log(pc) + (1 - yd) * log(1 - pc)
      dp?[r] = (pr < lo || pr > hi) ? 0 : Float(scale * (-yd / pc + (1 - yd) / (1 - pc)))
    }
    return sum / Double(B)
  }
}

extension NaiveKernels {
  public static func bceProb(
    dp: UnsafeMutablePointer<Float>?, p: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int,
    B: Int, weight: Float
  ) -> Double {
    let lo = Double(Float(1e-7))
    let hi = Double(Float(1) - Float(1e-7))
    var sum = 0.0
    for r in 0..<B {
      let pd = Double(p[r])
      let yd = Double(y[r * yStride])
      let clipped = pd < lo || pd > hi
      let pc = pd < lo ? lo : (pd > hi ? hi : pd)
      sum += -yd * log(pc) - (1 - yd) * log(1 - pc)
      dp?[r] = clipped ? 0 : Float(Double(weight) * ((1 - yd) / (1 - pc) - yd / pc) / Double(B))
    }
    return B > 0 ? sum / Double(B) : 0
  }
}

// MARK: - mean squared error
//   loss_b = (x − y)²        grad_b = 2 · weight · (x − y) / B

extension Kernels {
  public static func mse(
    dx: UnsafeMutablePointer<Float>?,  // [B] out (overwritten)
    x: UnsafePointer<Float>,  // [B] predictions
    y: UnsafePointer<Float>,  // [B] targets, stride yStride
    yStride: Int,
    B: Int, weight: Float
  ) -> Double {
    guard B > 0 else { return 0 }
    let scale = 2 * weight / Float(B)
    var sum = 0.0
    for r in 0..<B {
      let diff = x[r] - y[r * yStride]
      sum += Double(diff) * Double(diff)
      dx?[r] = scale * diff
    }
    return sum / Double(B)
  }
}

extension NaiveKernels {
  public static func mse(
    dx: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int,
    B: Int, weight: Float
  ) -> Double {
    var sum = 0.0
    for r in 0..<B {
      let diff = Double(x[r]) - Double(y[r * yStride])
      sum += diff * diff
      dx?[r] = Float(2 * Double(weight) * diff / Double(B))
    }
    return B > 0 ? sum / Double(B) : 0
  }
}

// MARK: - L2 penalty: λ Σ w²  (Keras `regularizers.l2(λ)`)

extension Kernels {
  /// Returns λ Σ w², summed in Double.
  public static func l2Penalty(
    w: UnsafePointer<Float>,  // [N]
    N: Int, lambda: Float
  ) -> Double {
    Double(lambda) * sumOfSquares(x: w, N: N)
  }

  /// ACCUMULATES dw += 2λ w.
  public static func l2Backward(
    dw: UnsafeMutablePointer<Float>,  // [N] accumulate
    w: UnsafePointer<Float>,  // [N]
    N: Int, lambda: Float
  ) {
    let twoLambda = 2 * lambda
    for i in 0..<N { dw[i] += twoLambda * w[i] }
  }
}

extension NaiveKernels {
  public static func l2Penalty(w: UnsafePointer<Float>, N: Int, lambda: Float) -> Double {
    var s = 0.0
    for i in 0..<N { s += Double(lambda) * Double(w[i]) * Double(w[i]) }
    return s
  }

  public static func l2Backward(dw: UnsafeMutablePointer<Float>, w: UnsafePointer<Float>, N: Int, lambda: Float) {
    for i in 0..<N { dw[i] = Float(Double(dw[i]) + 2 * Double(lambda) * Double(w[i])) }
  }
}

// MARK: - losses over a sample space (labels that may be absent)
//
// A label that is NaN marks a row outside the task's sample space (or with a missing label, or an
// unseen class): it contributes no loss and a zero gradient. These kernels return the SUM of the
// loss over the rows that have a label and OVERWRITE the gradient with `scale` · ∂loss_b/∂input,
// where the caller passes scale = weight / n, n being the rows with a label in the WHOLE batch
// (every thread's share), so that the summed gradient is that of the in-space mean. A batch with
// n = 0 contributes nothing (the caller then passes scale = 0 and divides by nothing).

extension Kernels {
  /// Binary cross-entropy on logits over the rows whose label is not NaN. With a positive weight
  /// pw (`tasks.<t>.positive_weight`): pw·y·softplus(−z) + (1 − y)·softplus(z), gradient
  /// σ(z)·(pw·y + 1 − y) − pw·y (pw = 1 is the plain loss, bit for bit).
  public static func bceLogitsMasked(
    dz: UnsafeMutablePointer<Float>?,  // [B] out (overwritten)
    z: UnsafePointer<Float>,  // [B] logits
    y: UnsafePointer<Float>,  // [B] labels in [0,1] or NaN, stride yStride
    yStride: Int, B: Int, scale: Float, positiveWeight pw: Float = 1
  ) -> Double {
    var sum = 0.0
    for r in 0..<B {
      let yr = y[r * yStride]
      guard !yr.isNaN else {
        dz?[r] = 0
        continue
      }
      let zr = z[r]
      let zd = Double(zr)
      if pw == 1 {
        sum += max(zd, 0) - zd * Double(yr) + log1p(exp(-abs(zd)))
        dz?[r] = scale * (sigmoid(zr) - yr)
      } else {
        let softplusNeg = max(-zd, 0) + log1p(exp(-abs(zd)))  // −log σ(z)
        let softplusPos = max(zd, 0) + log1p(exp(-abs(zd)))  // −log(1 − σ(z))
        sum += Double(pw) * Double(yr) * softplusNeg + (1 - Double(yr)) * softplusPos
        dz?[r] = scale * (sigmoid(zr) * (pw * yr + 1 - yr) - pw * yr)
      }
    }
    return sum
  }

  /// Binary cross-entropy on probabilities (clipped as `bceProb`) over the rows whose label is
  /// not NaN.
  public static func bceProbMasked(
    dp: UnsafeMutablePointer<Float>?, p: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int, B: Int,
    scale: Float, positiveWeight pw: Float = 1
  ) -> Double {
    let (lo, hi) = bceProbClip
    var sum = 0.0
    for r in 0..<B {
      let yr = y[r * yStride]
      let pr = p[r]
      guard !yr.isNaN else {
        dp?[r] = 0
        continue
      }
      let pc = Double(min(max(pr, lo), hi))
      let yd = Double(yr) * Double(pw)  // the positive term's weight (pw = 1: the plain loss)
      sum -= yd * log(pc) + (1 - Double(yr)) * log(1 - pc)
      dp?[r] = (pr < lo || pr > hi) ? 0 : Float(Double(scale) * (-yd / pc + (1 - Double(yr)) / (1 - pc)))
    }
    return sum
  }

  /// Squared error over the rows whose label is not NaN.
  public static func mseMasked(
    dx: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int, B: Int,
    scale: Float
  ) -> Double {
    var sum = 0.0
    for r in 0..<B {
      let yr = y[r * yStride]
      guard !yr.isNaN else {
        dx?[r] = 0
        continue
      }
      let diff = x[r] - yr
      sum += Double(diff) * Double(diff)
      dx?[r] = 2 * scale * diff
    }
    return sum
  }

  // MARK: softmax cross-entropy on logits
  //   loss_b = logsumexp(z_b) − z_b[y_b]        grad_b,k = scale · (softmax(z_b)_k − [k = y_b])
  // Stable: the row maximum is subtracted before exponentiating. A label is a class index
  // 0..<K stored as a Float, NaN for a row without one.

  /// Returns the summed loss over the rows with a label.
  public static func softmaxCrossEntropy(
    dz: UnsafeMutablePointer<Float>?,  // [B, K] out (overwritten)
    z: UnsafePointer<Float>,  // [B, K] logits
    y: UnsafePointer<Float>,  // [B] class indices or NaN, stride yStride
    yStride: Int, B: Int, K: Int, scale: Float
  ) -> Double {
    var sum = 0.0
    for r in 0..<B {
      let zr = z + r * K
      let yr = y[r * yStride]
      guard !yr.isNaN else {
        dz.map { ($0 + r * K).update(repeating: 0, count: K) }
        continue
      }
      let c = Int(yr)
      var m = zr[0]
      for k in 1..<K where zr[k] > m { m = zr[k] }
      var s: Float = 0
      for k in 0..<K { s += expf(zr[k] - m) }
      let lse = Double(m) + log(Double(s))
      sum += lse - Double(zr[c])
      if let dz {
        let d = dz + r * K
        let inv = 1 / s
        for k in 0..<K { d[k] = scale * (expf(zr[k] - m) * inv) }
        d[c] -= scale
      }
    }
    return sum
  }
}

extension NaiveKernels {
  public static func bceLogitsMasked(
    dz: UnsafeMutablePointer<Float>?, z: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int, B: Int,
    scale: Float, positiveWeight pw: Float = 1
  ) -> Double {
    func softplus(_ t: Double) -> Double { max(t, 0) + log1p(exp(-abs(t))) }
    let w = Double(pw)
    var sum = 0.0
    for r in 0..<B {
      let yd = Double(y[r * yStride])
      if yd.isNaN {
        dz?[r] = 0
        continue
      }
      let zd = Double(z[r])
      sum += w * yd * softplus(-zd) + (1 - yd) * softplus(zd)
      let s = 1 / (1 + exp(-zd))
      dz?[r] = Float(Double(scale) * (s * (w * yd + 1 - yd) - w * yd))
    }
    return sum
  }

  public static func mseMasked(
    dx: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int, B: Int,
    scale: Float
  ) -> Double {
    var sum = 0.0
    for r in 0..<B {
      let yd = Double(y[r * yStride])
      if yd.isNaN {
        dx?[r] = 0
        continue
      }
      let diff = Double(x[r]) - yd
      sum += diff * diff
      dx?[r] = Float(2 * Double(scale) * diff)
    }
    return sum
  }

  /// Softmax cross-entropy in Double, by the definition: −log(e^{z_y} / Σ_k e^{z_k}).
  public static func softmaxCrossEntropy(
    dz: UnsafeMutablePointer<Float>?, z: UnsafePointer<Float>, y: UnsafePointer<Float>, yStride: Int, B: Int, K: Int,
    scale: Float
  ) -> Double {
    var sum = 0.0
    for r in 0..<B {
      let yd = y[r * yStride]
      if yd.isNaN {
        for k in 0..<K { dz?[r * K + k] = 0 }
        continue
      }
      let c = Int(yd)
      let m = (0..<K).map { Double(z[r * K + $0]) }.max()!
      let e = (0..<K).map { exp(Double(z[r * K + $0]) - m) }
      let s = e.reduce(0, +)
      sum += -log(e[c] / s)
      for k in 0..<K { dz?[r * K + k] = Float(Double(scale) * (e[k] / s - (k == c ? 1 : 0))) }
    }
    return sum
  }
}
