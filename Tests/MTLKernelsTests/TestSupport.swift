// Test helpers: a seeded generator, heap Float buffers with stable addresses, tolerance checks and a
// central-finite-difference gradient checker. No dependency on other mtlc modules.
import Testing

/// SplitMix64: tiny, seeded, reproducible.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [lo, hi).
  mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
    let u = Float(next() >> 40) / Float(1 << 24)
    return lo + (hi - lo) * u
  }

  /// Uniform in ±[minAbs, 1): keeps values away from kinks (relu at 0) by more than the FD step.
  mutating func awayFromZero(_ minAbs: Float = 0.05) -> Float {
    let magnitude = uniform(minAbs, 1)
    return next() & 1 == 0 ? magnitude : -magnitude
  }

  mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// A heap Float buffer with a stable address, freed on deinit. Only used inside one test function.
/// Always bind a Buf to a named local before passing `.p` / `.c` to a kernel: a temporary such as
/// `Buf([1]).c` may be freed before the call runs (named locals live to the end of their scope).
final class Buf {
  let p: UnsafeMutablePointer<Float>
  let n: Int

  init(_ n: Int, fill: Float = 0) {
    self.n = n
    p = .allocate(capacity: max(n, 1))
    p.initialize(repeating: fill, count: max(n, 1))
  }

  convenience init(_ values: [Float]) {
    self.init(values.count)
    for (i, v) in values.enumerated() { p[i] = v }
  }

  /// Values ~ U(-1, 1).
  convenience init(random n: Int, _ rng: inout SplitMix64) {
    self.init(n)
    for i in 0..<n { p[i] = rng.uniform() }
  }

  deinit { p.deallocate() }

  var c: UnsafePointer<Float> { UnsafePointer(p) }
  var array: [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }
  func copy() -> Buf { Buf(array) }

  subscript(i: Int) -> Float {
    get { p[i] }
    set { p[i] = newValue }
  }
}

/// Σ r ⊙ y in Double: the scalar objective whose gradient w.r.t. y is r.
func dot(_ y: Buf, _ r: Buf) -> Double {
  precondition(y.n == r.n)
  var s = 0.0
  for i in 0..<y.n { s += Double(y[i]) * Double(r[i]) }
  return s
}

/// Element-wise closeness: |a − b| ≤ abs + rel · |b|.
func close(_ a: [Float], _ b: [Float], rel: Float = 1e-5, abs absTol: Float = 1e-6) -> Bool {
  guard a.count == b.count else { return false }
  for (x, y) in zip(a, b) where !(abs(x - y) <= absTol + rel * abs(y)) { return false }
  return true
}

func expectClose(
  _ a: [Float], _ b: [Float], rel: Float = 1e-5, abs absTol: Float = 1e-6, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(close(a, b, rel: rel, abs: absTol), "\(label): \(a) vs \(b)", sourceLocation: sourceLocation)
}

/// Central finite differences of `objective` w.r.t. every element of `param`, step eps = 1e-3 in Float
/// (the actually representable step x(+eps) − x(−eps) is used as the denominator).
/// Tolerance: |analytic − numeric| ≤ 1e-3 + 1e-2 · |numeric|.
/// Also requires the numeric gradient to be non-trivial (some |entry| > 1e-2), so a check in which the
/// objective does not depend on `param` at all cannot pass by comparing zeros with zeros.
func checkGradient(
  _ label: String, param: Buf, analytic: [Float], eps: Float = 1e-3, requireNonZero: Bool = true,
  objective: () -> Double, sourceLocation: SourceLocation = #_sourceLocation
) {
  precondition(analytic.count == param.n)
  var failures: [String] = []
  var largest = 0.0
  for i in 0..<param.n {
    let original = param[i]
    param[i] = original + eps
    let xPlus = param[i]
    let lPlus = objective()
    param[i] = original - eps
    let xMinus = param[i]
    let lMinus = objective()
    param[i] = original
    let numeric = (lPlus - lMinus) / Double(xPlus - xMinus)
    largest = max(largest, abs(numeric))
    let a = Double(analytic[i])
    if !(abs(a - numeric) <= 1e-3 + 1e-2 * abs(numeric)) {
      failures.append("[\(i)] analytic \(a) numeric \(numeric)")
    }
  }
  #expect(failures.isEmpty, "\(label): \(failures.joined(separator: ", "))", sourceLocation: sourceLocation)
  if requireNonZero {
    #expect(largest > 1e-2, "\(label): gradient is trivially zero", sourceLocation: sourceLocation)
  }
}

/// `after − before`, element-wise: the amount a backward kernel accumulated into a pre-filled buffer.
func delta(_ after: Buf, _ before: [Float]) -> [Float] {
  zip(after.array, before).map { $0 - $1 }
}
