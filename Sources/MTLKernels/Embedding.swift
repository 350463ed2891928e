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

// MARK: - embedding bag: y[b] = pool(table[ids[b · idStride + k]] for k < L with ids ≥ 0)
//
// A multi-valued feature's L id columns of a row, padded with -1 (no value). Pooling over the
// valid ids: sum; mean (the sum over their count); max (per element; the gradient goes to the
// first row holding the maximum). A row with no valid id pools to zeros and has no gradient.

/// How an embedding bag pools its rows.
public enum BagPooling: Int, Sendable, CaseIterable { case sum, mean, max }

extension Kernels {
  /// Overwrites `y` with each row's pooled embeddings.
  public static func embedBagForward(
    y: UnsafeMutablePointer<Float>,  // [B, D] out
    table: UnsafePointer<Float>,  // [V, D]
    ids: UnsafePointer<Int32>,  // [B, L] with row stride idStride, -1 = padding
    idStride: Int, L: Int, pooling: BagPooling,
    B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      let out = y + r * D
      let row = ids + r * idStride
      var n = 0
      for k in 0..<L where row[k] >= 0 {
        let id = Int(row[k])
        assert(id < V, "embedding id \(id) outside 0..<\(V)")
        let t = table + id * D
        if n == 0 {
          out.update(from: t, count: D)
        } else if pooling == .max {
          for d in 0..<D where t[d] > out[d] { out[d] = t[d] }
        } else {
          for d in 0..<D { out[d] += t[d] }
        }
        n += 1
      }
      if n == 0 {
        out.update(repeating: 0, count: D)
      } else if pooling == .mean && n > 1 {
        let inv = 1 / Float(n)
        for d in 0..<D { out[d] *= inv }
      }
    }
  }

  /// ACCUMULATES into the rows of `dtable` the bag looked up: dy (sum), dy / n (mean), or dy at
  /// the first row holding each element's maximum (max, found again from `table`).
  public static func embedBagBackward(
    dtable: UnsafeMutablePointer<Float>,  // [V, D] accumulate
    dy: UnsafePointer<Float>,  // [B, D]
    table: UnsafePointer<Float>,  // [V, D] (max pooling reads it)
    ids: UnsafePointer<Int32>,  // [B, L] with row stride idStride, -1 = padding
    idStride: Int, L: Int, pooling: BagPooling,
    B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      let row = ids + r * idStride
      let g = dy + r * D
      var n = 0
      for k in 0..<L where row[k] >= 0 { n += 1 }
      guard n > 0 else { continue }
      switch pooling {
      case .sum, .mean:
        let scale: Float = pooling == .mean ? 1 / Float(n) : 1
        for k in 0..<L where row[k] >= 0 {
          let t = dtable + Int(row[k]) * D
          if scale == 1 {
            for d in 0..<D { t[d] += g[d] }
          } else {
            for d in 0..<D { t[d] += g[d] * scale }
          }
        }
      case .max:
        for d in 0..<D {
          var best = -1
          for k in 0..<L where row[k] >= 0 {
            if best < 0 || table[Int(row[k]) * D + d] > table[Int(row[best]) * D + d] { best = k }
          }
          dtable[Int(row[best]) * D + d] += g[d]
        }
      }
    }
  }
}

extension NaiveKernels {
  public static func embedBagForward(
    y: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, idStride: Int, L: Int,
    pooling: BagPooling, B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      let valid = (0..<L).map { Int(ids[r * idStride + $0]) }.filter { $0 >= 0 }
      for d in 0..<D {
        let xs = valid.map { Double(table[$0 * D + d]) }
        let v: Double
        switch pooling {
        case .sum: v = xs.reduce(0, +)
        case .mean: v = xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
        case .max: v = xs.max() ?? 0
        }
        y[r * D + d] = Float(v)
      }
    }
  }

  public static func embedBagBackward(
    dtable: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, table: UnsafePointer<Float>,
    ids: UnsafePointer<Int32>, idStride: Int, L: Int, pooling: BagPooling, B: Int, D: Int, V: Int = .max
  ) {
    for r in 0..<B {
      let valid = (0..<L).map { Int(ids[r * idStride + $0]) }.filter { $0 >= 0 }
      guard !valid.isEmpty else { continue }
      for d in 0..<D {
        let g = Double(dy[r * D + d])
        switch pooling {
        case .sum: for id in valid { dtable[id * D + d] += Float(g) }
        case .mean: for id in valid { dtable[id * D + d] += Float(g / Double(valid.count)) }
        case .max:
          let best = valid.indices.max { a, b in
            // The first of equal maxima wins: a later index is "greater" only when strictly larger.
            table[valid[a] * D + d] < table[valid[b] * D + d]
              || (table[valid[a] * D + d] == table[valid[b] * D + d] && a > b)
          }!
          dtable[valid[best] * D + d] += Float(g)
        }
      }
    }
  }
}
