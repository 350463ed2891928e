// Column concatenation of row-major blocks: y[B, ΣW] = [part_0 | part_1 | ...], part_i is [B, W_i].
// Hand-written: a strided row copy; BLAS has nothing for it.
//
// Allocation: the part lists are Swift arrays. Passing an existing array does not allocate, so the
// runtime should build each list once when it plans buffers (arena pointers are stable) and reuse
// it every step; only building a fresh array per call would allocate.

extension Kernels {
  /// Overwrites `y`.
  public static func concatForward(
    y: UnsafeMutablePointer<Float>,  // [B, ΣW] out
    parts: [(UnsafePointer<Float>, Int)],  // (pointer [B, W_i], W_i)
    B: Int
  ) {
    var total = 0
    for part in parts { total += part.1 }
    var offset = 0
    for (p, width) in parts {
      for r in 0..<B { (y + r * total + offset).update(from: p + r * width, count: width) }
      offset += width
    }
  }

  /// ACCUMULATES each dpart += its columns of dy. A nil pointer means that part needs no gradient.
  public static func concatBackward(
    dparts: [(UnsafeMutablePointer<Float>?, Int)],  // (pointer [B, W_i] accumulate or nil, W_i)
    dy: UnsafePointer<Float>,  // [B, ΣW]
    B: Int
  ) {
    var total = 0
    for part in dparts { total += part.1 }
    var offset = 0
    for (dp, width) in dparts {
      defer { offset += width }
      guard let dp else { continue }
      for r in 0..<B {
        let src = dy + r * total + offset
        let dst = dp + r * width
        for c in 0..<width { dst[c] += src[c] }
      }
    }
  }
}

extension NaiveKernels {
  public static func concatForward(y: UnsafeMutablePointer<Float>, parts: [(UnsafePointer<Float>, Int)], B: Int) {
    let total = parts.reduce(0) { $0 + $1.1 }
    for r in 0..<B {
      var col = 0
      for (p, width) in parts {
        for c in 0..<width {
          y[r * total + col] = p[r * width + c]
          col += 1
        }
      }
    }
  }

  public static func concatBackward(
    dparts: [(UnsafeMutablePointer<Float>?, Int)], dy: UnsafePointer<Float>, B: Int
  ) {
    let total = dparts.reduce(0) { $0 + $1.1 }
    for r in 0..<B {
      var col = 0
      for (dp, width) in dparts {
        for c in 0..<width {
          dp?[r * width + c] += dy[r * total + col]
          col += 1
        }
      }
    }
  }
}
