// Explicit 8-wide SIMD loops for the element-wise kernels the profiler shows (relu backward, the
// gate mix's dot products, bias + activation). Written out because the compiler will not vectorise
// a Float reduction (it must keep the order of the additions) nor a loop whose pointers may alias.
// Each function is the plain loop's twin, checked against the naive kernels in the tests.

typealias F8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }

@inline(__always)
func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self) }

enum Vector {
  /// Σ a[i]·b[i], in two 8-wide accumulators (a fixed order: results are reproducible).
  @inline(__always)
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s0 = F8()
    var s1 = F8()
    var i = 0
    while i + 16 <= n {
      s0.addProduct(load8(a + i), load8(b + i))
      s1.addProduct(load8(a + i + 8), load8(b + i + 8))
      i += 16
    }
    if i + 8 <= n {
      s0.addProduct(load8(a + i), load8(b + i))
      i += 8
    }
    var s = (s0 + s1).sum()
    while i < n {
      s += a[i] * b[i]
      i += 1
    }
    return s
  }

  /// y[i] += a·x[i].
  @inline(__always)
  static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    let av = F8(repeating: a)
    var i = 0
    while i + 8 <= n {
      var v = load8(y + i)
      v.addProduct(av, load8(x + i))
      store8(v, y + i)
      i += 8
    }
    while i < n {
      y[i] += a * x[i]
      i += 1
    }
  }

  /// dz[i] = y[i] > 0 ? dy[i] : 0 (dz may alias dy).
  @inline(__always)
  static func reluBackward(
    _ dz: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int
  ) {
    let zero = F8()
    var i = 0
    while i + 8 <= n {
      let keep = load8(y + i) .> zero
      store8(zero.replacing(with: load8(dy + i), where: keep), dz + i)
      i += 8
    }
    while i < n {
      dz[i] = y[i] > 0 ? dy[i] : 0
      i += 1
    }
  }

  /// Row by row, y[r, :] = relu(y[r, :] + b) (b optional).
  @inline(__always)
  static func biasRelu(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>?, rows: Int, cols: Int) {
    let zero = F8()
    for r in 0..<rows {
      let row = y + r * cols
      var i = 0
      while i + 8 <= cols {
        var v = load8(row + i)
        if let b { v += load8(b + i) }
        store8(v.replacing(with: zero, where: v .< zero), row + i)
        i += 8
      }
      while i < cols {
        let v = row[i] + (b?[i] ?? 0)
        row[i] = v > 0 ? v : 0
        i += 1
      }
    }
  }

  /// Row by row, y[r, :] += b.
  @inline(__always)
  static func addBias(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, cols: Int) {
    for r in 0..<rows { axpy(y + r * cols, 1, b, cols) }
  }

  /// Σ over rows of x[r, :] into acc (acc += column sums).
  @inline(__always)
  static func addColumnSums(_ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, cols: Int) {
    for r in 0..<rows { axpy(acc, 1, x + r * cols, cols) }
  }
}
