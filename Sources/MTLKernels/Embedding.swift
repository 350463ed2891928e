// Embedding lookup (row gather) and its scatter-add backward.
// Hand-written: BLAS has no gather/scatter kernels; each row is a contiguous copy / add.

// MARK: - embed: y[b] = table[ids[b · idStride]]
//
// `ids` are Int32 row indices, read with a stride so they can live in a [B, S] block of sparse slots
// (pass `ids + slot` and idStride = S). They are validated to lie in 0..<V before training; debug
// builds re-check (pass `V` to enable the upper-bound check).

extension Kernels {
  /// Overwrites `y` with the looked-up rows.
  public static func embedForward(
    y: UnsafeMutablePointer<Float>,  // [B, D] out
    table: UnsafePointer<Float>,  // [V, D]
    ids: UnsafePointer<Int32>,  // [B] with stride idStride
    idStride: Int,
    B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      let id = Int(ids[r * idStride])
      assert(id >= 0 && id < V, "embedding id \(id) outside 0..<\(V)")
      (y + r * D).update(from: table + id * D, count: D)
    }
  }

  /// ACCUMULATES dtable[ids[b]] += dy[b]. Only looked-up rows are touched; repeated ids add up.
  public static func embedBackward(
    dtable: UnsafeMutablePointer<Float>,  // [V, D] accumulate
    dy: UnsafePointer<Float>,  // [B, D]
    ids: UnsafePointer<Int32>,  // [B] with stride idStride
    idStride: Int,
    B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      let id = Int(ids[r * idStride])
      assert(id >= 0 && id < V, "embedding id \(id) outside 0..<\(V)")
      let row = dtable + id * D
      let g = dy + r * D
      for d in 0..<D { row[d] += g[d] }
    }
  }
}

extension NaiveKernels {
  public static func embedForward(
    y: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, idStride: Int,
    B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      for d in 0..<D { y[r * D + d] = table[Int(ids[r * idStride]) * D + d] }
    }
  }

  public static func embedBackward(
    dtable: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, ids: UnsafePointer<Int32>, idStride: Int,
    B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      for d in 0..<D { dtable[Int(ids[r * idStride]) * D + d] += dy[r * D + d] }
    }
  }
}
