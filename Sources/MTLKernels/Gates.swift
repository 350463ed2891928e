// Gating ops of multi-gate mixtures (MMOE, PLE) and the probability product of ESMM:
// softmax over the gate logits, the gate-weighted mix of experts, and an element-wise product.
// Hand-written: OpenBLAS has no fused softmax or batched per-row weighted sum; the loops over H and K
// are contiguous and vectorise.
import Foundation

// MARK: - softmax: y[b,:] = softmax(x[b,:]) over K

extension Kernels {
  /// Row-wise softmax, stable for any finite logits (the row max is subtracted before exp).
  /// Overwrites `y`; `y` may alias `x`.
  public static func softmaxForward(
    y: UnsafeMutablePointer<Float>,  // [B, K] out
    x: UnsafePointer<Float>,  // [B, K]
    B: Int, K: Int
  ) {
    guard K > 0 else { return }
    for r in 0..<B {
      let xr = x + r * K
      let yr = y + r * K
      var m = xr[0]
      for k in 1..<K { m = max(m, xr[k]) }
      var sum: Float = 0
      for k in 0..<K {
        let e = exp(xr[k] - m)
        yr[k] = e
        sum += e
      }
      let inv = 1 / sum  // sum ≥ 1: the max element contributes e^0
      for k in 0..<K { yr[k] *= inv }
    }
  }

  /// ACCUMULATES dx += y ⊙ (dy − Σ_k y·dy), row-wise.
  public static func softmaxBackward(
    dx: UnsafeMutablePointer<Float>,  // [B, K] accumulate
    dy: UnsafePointer<Float>,  // [B, K]
    y: UnsafePointer<Float>,  // [B, K] forward output
    B: Int, K: Int
  ) {
    for r in 0..<B {
      let yr = y + r * K
      let dyr = dy + r * K
      let dxr = dx + r * K
      var dot: Float = 0
      for k in 0..<K { dot += yr[k] * dyr[k] }
      for k in 0..<K { dxr[k] += yr[k] * (dyr[k] - dot) }
    }
  }
}

extension NaiveKernels {
  public static func softmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, B: Int, K: Int) {
    for r in 0..<B {
      var m = -Double.infinity
      for k in 0..<K { m = max(m, Double(x[r * K + k])) }
      var sum = 0.0
      for k in 0..<K { sum += exp(Double(x[r * K + k]) - m) }
      for k in 0..<K { y[r * K + k] = Float(exp(Double(x[r * K + k]) - m) / sum) }
    }
  }

  public static func softmaxBackward(
    dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, B: Int, K: Int
  ) {
    // Full Jacobian: dx_j += Σ_k dy_k · ∂y_k/∂x_j, with ∂y_k/∂x_j = y_k (δ_kj − y_j).
    for r in 0..<B {
      for j in 0..<K {
        var s = 0.0
        for k in 0..<K {
          let yk = Double(y[r * K + k])
          let yj = Double(y[r * K + j])
          s += Double(dy[r * K + k]) * yk * ((k == j ? 1 : 0) - yj)
        }
        dx[r * K + j] += Float(s)
      }
    }
  }
}

// MARK: - mix: y[b,:] = Σ_k g[b,k] · x_k[b,:]
//
// Each of the K mixed experts is a `MixSource`: expert k's row b is `base + b·rowStride + offset`.
// Stacked experts are batch-major ([B, E, H]: rowStride E·H, offset e·H), so a gate can mix any
// experts of any groups — after the compiler merges parallel groups, a gate mixes a selection.
// Allocation: build the source lists once, reuse them (see Concat.swift).

/// Where a mixed expert's rows are.
public struct MixSource {
  public var base: UnsafePointer<Float>
  public var rowStride: Int
  public var offset: Int
  public init(base: UnsafePointer<Float>, rowStride: Int, offset: Int) {
    self.base = base
    self.rowStride = rowStride
    self.offset = offset
  }
}

/// Where a mixed expert's row gradients go (nil base: no gradient wanted).
public struct MixGradSource {
  public var base: UnsafeMutablePointer<Float>?
  public var rowStride: Int
  public var offset: Int
  public init(base: UnsafeMutablePointer<Float>?, rowStride: Int, offset: Int) {
    self.base = base
    self.rowStride = rowStride
    self.offset = offset
  }
}

extension Kernels {
  /// Overwrites `y`.
  public static func mixForward(
    y: UnsafeMutablePointer<Float>,  // [B, H] out
    g: UnsafePointer<Float>,  // [B, K] gate weights
    sources: [MixSource],  // K experts
    B: Int, H: Int
  ) {
    let K = sources.count
    y.update(repeating: 0, count: B * H)
    sources.withUnsafeBufferPointer { src in
      for r in 0..<B {
        let yr = y + r * H
        for k in 0..<K {
          Vector.axpy(yr, g[r * K + k], src[k].base + r * src[k].rowStride + src[k].offset, H)
        }
      }
    }
  }

  /// ACCUMULATES dg[b,k] += ⟨dy[b], x_k[b]⟩ and dx_k[b] += g[b,k] · dy[b]. nil targets are skipped.
  public static func mixBackward(
    dg: UnsafeMutablePointer<Float>?,  // [B, K] accumulate
    dsources: [MixGradSource],  // K, accumulate
    dy: UnsafePointer<Float>,  // [B, H]
    g: UnsafePointer<Float>,  // [B, K]
    sources: [MixSource],  // K
    B: Int, H: Int
  ) {
    precondition(dsources.count == sources.count, "mixBackward: dsources and sources differ in count")
    let K = sources.count
    sources.withUnsafeBufferPointer { src in
      dsources.withUnsafeBufferPointer { dsrc in
        for r in 0..<B {
          let dyr = dy + r * H
          for k in 0..<K {
            if let dg {
              dg[r * K + k] += Vector.dot(dyr, src[k].base + r * src[k].rowStride + src[k].offset, H)
            }
            if let d = dsrc[k].base {
              Vector.axpy(d + r * dsrc[k].rowStride + dsrc[k].offset, g[r * K + k], dyr, H)
            }
          }
        }
      }
    }
  }
}

extension NaiveKernels {
  public static func mixForward(
    y: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, sources: [MixSource], B: Int, H: Int
  ) {
    let K = sources.count
    for r in 0..<B {
      for h in 0..<H {
        var s = 0.0
        for (k, x) in sources.enumerated() {
          s += Double(g[r * K + k]) * Double(x.base[r * x.rowStride + x.offset + h])
        }
        y[r * H + h] = Float(s)
      }
    }
  }

  public static func mixBackward(
    dg: UnsafeMutablePointer<Float>?, dsources: [MixGradSource], dy: UnsafePointer<Float>, g: UnsafePointer<Float>,
    sources: [MixSource], B: Int, H: Int
  ) {
    let K = sources.count
    for r in 0..<B {
      for k in 0..<K {
        let x = sources[k]
        var s = 0.0
        for h in 0..<H { s += Double(dy[r * H + h]) * Double(x.base[r * x.rowStride + x.offset + h]) }
        dg?[r * K + k] += Float(s)
        if let d = dsources[k].base {
          for h in 0..<H {
            d[r * dsources[k].rowStride + dsources[k].offset + h] += Float(Double(g[r * K + k]) * Double(dy[r * H + h]))
          }
        }
      }
    }
  }
}

// MARK: - product: y[b] = Π_i x_i[b]   (ESMM: pCTCVR = pCTR · pCVR)

extension Kernels {
  /// Overwrites `y`. With no inputs, y = 1 (the empty product).
  public static func productForward(
    y: UnsafeMutablePointer<Float>,  // [B] out
    xs: [UnsafePointer<Float>],  // n pointers, each [B]
    B: Int
  ) {
    y.update(repeating: 1, count: B)
    for x in xs {
      for r in 0..<B { y[r] *= x[r] }
    }
  }

  /// ACCUMULATES dx_i += dy · Π_{j≠i} x_j. The product of the others is formed directly (no division
  /// by x_i), so inputs that are exactly 0 get the right gradient. nil entries of `dxs` are skipped.
  public static func productBackward(
    dxs: [UnsafeMutablePointer<Float>?],  // n pointers, each [B] accumulate, or nil
    dy: UnsafePointer<Float>,  // [B]
    xs: [UnsafePointer<Float>],  // n pointers, each [B]
    B: Int
  ) {
    precondition(dxs.count == xs.count, "productBackward: dxs and xs differ in count")
    for (i, dx) in dxs.enumerated() {
      guard let dx else { continue }
      for r in 0..<B {
        var p = dy[r]
        for (j, x) in xs.enumerated() where j != i { p *= x[r] }
        dx[r] += p
      }
    }
  }
}

extension NaiveKernels {
  public static func productForward(y: UnsafeMutablePointer<Float>, xs: [UnsafePointer<Float>], B: Int) {
    for r in 0..<B { y[r] = Float(xs.reduce(1.0) { $0 * Double($1[r]) }) }
  }

  public static func productBackward(
    dxs: [UnsafeMutablePointer<Float>?], dy: UnsafePointer<Float>, xs: [UnsafePointer<Float>], B: Int
  ) {
    for r in 0..<B {
      for i in 0..<xs.count {
        var others = 1.0
        for j in 0..<xs.count where j != i { others *= Double(xs[j][r]) }
        dxs[i]?[r] += Float(Double(dy[r]) * others)
      }
    }
  }
}
