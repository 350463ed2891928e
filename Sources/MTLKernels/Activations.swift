// Element-wise activations (see `Act` for the formulas). Derivatives use the OUTPUT y only, so the
// pre-activation buffer need not be kept for backward and the forward may run in place.
// Hand-written loops: BLAS has no element-wise kernels.
import Foundation

// MARK: - sigmoid helper

extension Kernels {
  /// σ(x) = 1 / (1 + e^-x), evaluated so that no intermediate overflows (exact 0 / 1 at |x| ≥ ~104).
  @inline(__always)
  public static func sigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + exp(-x)) }
    let e = exp(x)
    return e / (1 + e)
  }
}

extension NaiveKernels {
  public static func sigmoid(_ x: Float) -> Float { Float(1 / (1 + exp(-Double(x)))) }
}

// MARK: - activation: y[N] = act(x[N])

extension Kernels {
  /// y = act(x). Overwrites `y`; `y` may alias `x` exactly (in place), but must not partially overlap.
  public static func activationForward(
    act: Act,
    y: UnsafeMutablePointer<Float>,  // [N] out
    x: UnsafePointer<Float>,  // [N]
    N: Int
  ) {
    switch act {
    case .none:
      if UnsafePointer(y) != x { y.update(from: x, count: N) }
    case .relu:
      for i in 0..<N { y[i] = max(x[i], 0) }
    case .sigmoid:
      for i in 0..<N { y[i] = sigmoid(x[i]) }
    case .tanh:
      for i in 0..<N { y[i] = Foundation.tanh(x[i]) }
    case .leakyRelu:
      for i in 0..<N { y[i] = max(x[i], Act.leakySlope * x[i]) }  // slope < 1, so max picks the branch
    }
  }

  /// OVERWRITES dz = dy ⊙ act'(y), with act' computed from the output y. `dz` may alias `dy`.
  public static func activationBackward(
    act: Act,
    dz: UnsafeMutablePointer<Float>,  // [N] out (overwritten): gradient w.r.t. the pre-activation
    dy: UnsafePointer<Float>,  // [N] gradient w.r.t. the output
    y: UnsafePointer<Float>,  // [N] forward output
    N: Int
  ) {
    switch act {
    case .none:
      if UnsafePointer(dz) != dy { dz.update(from: dy, count: N) }
    case .relu:
      Vector.reluBackward(dz, dy, y, N)
    case .sigmoid:
      for i in 0..<N { dz[i] = dy[i] * y[i] * (1 - y[i]) }
    case .tanh:
      for i in 0..<N { dz[i] = dy[i] * (1 - y[i] * y[i]) }
    case .leakyRelu:
      for i in 0..<N { dz[i] = y[i] > 0 ? dy[i] : Act.leakySlope * dy[i] }
    }
  }
}

extension NaiveKernels {
  public static func activationForward(act: Act, y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, N: Int) {
    for i in 0..<N {
      let v = Double(x[i])
      let out: Double
      switch act {
      case .none: out = v
      case .relu: out = v > 0 ? v : 0
      case .sigmoid: out = 1 / (1 + exp(-v))
      case .tanh: out = Foundation.tanh(v)
      case .leakyRelu: out = v > 0 ? v : Double(Act.leakySlope) * v
      }
      y[i] = Float(out)
    }
  }

  public static func activationBackward(
    act: Act, dz: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, N: Int
  ) {
    for i in 0..<N {
      let yv = Double(y[i])
      let derivative: Double
      switch act {
      case .none: derivative = 1
      case .relu: derivative = yv > 0 ? 1 : 0
      case .sigmoid: derivative = yv * (1 - yv)
      case .tanh: derivative = 1 - yv * yv
      case .leakyRelu: derivative = yv > 0 ? 1 : Double(Act.leakySlope)
      }
      dz[i] = Float(Double(dy[i]) * derivative)
    }
  }
}
