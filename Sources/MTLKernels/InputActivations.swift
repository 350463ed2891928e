// Activations whose derivative needs the INPUT x (GELU, swish) or that carry a slope (leaky ReLU
// with a chosen slope, PReLU with a learned slope per column): they run as their own op, which
// keeps x for backward, instead of in a product's epilogue (Activations.swift). Hand-written
// loops: no library has them.
import Foundation

/// An activation computed from its input. Formulas (Φ the standard normal CDF, φ its density):
///   gelu:      y = x Φ(x)                     y' = Φ(x) + x φ(x)
///   swish:     y = x σ(x)                     y' = σ(x) (1 + x (1 − σ(x)))
///   leakyRelu: y = x if x > 0 else s x        y' = 1 if x > 0 else s       (s = `slope`)
///   prelu:     y = x if x > 0 else a_c x      y' = 1 if x > 0 else a_c,   ∂y/∂a_c = min(x, 0)
public enum InputAct: Equatable, Sendable {
  case gelu, swish
  case leakyRelu(slope: Float)
  /// Slopes [C], one per column of a row.
  case prelu
}

extension Kernels {
  static let invSqrt2: Float = 0.707_106_77
  static let invSqrt2Pi: Float = 0.398_942_3

  /// y = act(x) over `rows` rows of `C` columns; `slopes` [C] for prelu. Overwrites `y`.
  public static func inputActivationForward(
    act: InputAct,
    y: UnsafeMutablePointer<Float>,  // [rows, C] out
    x: UnsafePointer<Float>,  // [rows, C]
    slopes: UnsafePointer<Float>?,  // [C] for prelu
    rows: Int, C: Int
  ) {
    let N = rows * C
    switch act {
    case .gelu:
      for i in 0..<N {
        let v = x[i]
        y[i] = 0.5 * v * (1 + erf(v * invSqrt2))
      }
    case .swish:
      for i in 0..<N { y[i] = x[i] * sigmoid(x[i]) }
    case .leakyRelu(let s):
      for i in 0..<N { y[i] = x[i] > 0 ? x[i] : s * x[i] }
    case .prelu:
      let a = slopes!
      for r in 0..<rows {
        let xr = x + r * C
        let yr = y + r * C
        for c in 0..<C { yr[c] = xr[c] > 0 ? xr[c] : a[c] * xr[c] }
      }
    }
  }

  /// ACCUMULATES dx += dy ⊙ act'(x) (when `dx` is given) and, for prelu, dslopes[c] += Σ_r dy·min(x, 0).
  public static func inputActivationBackward(
    act: InputAct,
    dx: UnsafeMutablePointer<Float>?,  // [rows, C] accumulate
    dslopes: UnsafeMutablePointer<Float>?,  // [C] accumulate (prelu)
    dy: UnsafePointer<Float>,  // [rows, C]
    x: UnsafePointer<Float>,  // [rows, C]
    slopes: UnsafePointer<Float>?,  // [C] for prelu
    rows: Int, C: Int
  ) {
    let N = rows * C
    switch act {
    case .gelu:
      guard let dx else { return }
      for i in 0..<N {
        let v = x[i]
        let cdf = 0.5 * (1 + erf(v * invSqrt2))
        let pdf = invSqrt2Pi * exp(-0.5 * v * v)
        dx[i] += dy[i] * (cdf + v * pdf)
      }
    case .swish:
      guard let dx else { return }
      for i in 0..<N {
        let s = sigmoid(x[i])
        dx[i] += dy[i] * s * (1 + x[i] * (1 - s))
      }
    case .leakyRelu(let slope):
      guard let dx else { return }
      for i in 0..<N { dx[i] += x[i] > 0 ? dy[i] : slope * dy[i] }
    case .prelu:
      let a = slopes!
      for r in 0..<rows {
        let xr = x + r * C
        let dyr = dy + r * C
        if let dx {
          let dxr = dx + r * C
          for c in 0..<C { dxr[c] += xr[c] > 0 ? dyr[c] : a[c] * dyr[c] }
        }
        if let dslopes {
          for c in 0..<C where xr[c] < 0 { dslopes[c] += dyr[c] * xr[c] }
        }
      }
    }
  }
}

extension NaiveKernels {
  static func phi(_ v: Double) -> Double { 0.5 * (1 + erf(v / 2.0.squareRoot())) }

  public static func inputActivationForward(
    act: InputAct, y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, slopes: UnsafePointer<Float>?,
    rows: Int, C: Int
  ) {
    for r in 0..<rows {
      for c in 0..<C {
        let v = Double(x[r * C + c])
        let out: Double
        switch act {
        case .gelu: out = v * phi(v)
        case .swish: out = v / (1 + exp(-v))
        case .leakyRelu(let s): out = v > 0 ? v : Double(s) * v
        case .prelu: out = v > 0 ? v : Double(slopes![c]) * v
        }
        y[r * C + c] = Float(out)
      }
    }
  }

  public static func inputActivationBackward(
    act: InputAct, dx: UnsafeMutablePointer<Float>?, dslopes: UnsafeMutablePointer<Float>?, dy: UnsafePointer<Float>,
    x: UnsafePointer<Float>, slopes: UnsafePointer<Float>?, rows: Int, C: Int
  ) {
    for c in 0..<C {
      var slopeSum = 0.0
      for r in 0..<rows {
        let v = Double(x[r * C + c])
        let g = Double(dy[r * C + c])
        let derivative: Double
        switch act {
        case .gelu: derivative = phi(v) + v * exp(-v * v / 2) / (2 * Double.pi).squareRoot()
        case .swish:
          let s = 1 / (1 + exp(-v))
          derivative = s * (1 + v * (1 - s))
        case .leakyRelu(let s): derivative = v > 0 ? 1 : Double(s)
        case .prelu: derivative = v > 0 ? 1 : Double(slopes![c])
        }
        dx?[r * C + c] += Float(g * derivative)
        if v < 0 { slopeSum += g * v }
      }
      if case .prelu = act { dslopes?[c] += Float(slopeSum) }
    }
  }
}
