import CMallocCounter
import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLTrain

/// Steady training speed and allocations, measured on the training loop itself.
enum Measure {
  struct Result {
    var samplesPerSecond: Double
    var msPerStep: Double
    var allocsPerStep: Double
    var allocsPerEpoch: Double
  }

  /// Trains `epochs` epochs; the first warms up. Steps are timed and their allocations counted
  /// around `Executor.step()` (the training step), the epoch's other work separately.
  static func training(graph: Graph, data: LoadedData, threads: Int, epochs: Int) throws -> Result {
    let s = Session(graph: graph, fitted: data.fitted, seed: graph.training.seed, threads: threads)
    let ex = s.executor
    let B = graph.training.batchSize
    let n = data.train.count
    let batches = (n + B - 1) / B
    var seconds = 0.0
    var steps = 0
    var stepAllocs: UInt64 = 0
    var epochAllocs: UInt64 = 0
    for epoch in 1...max(2, epochs) {
      let a0 = mtlc_malloc_count()
      let order = EpochOrder.permutation(count: n, seed: s.seed, epoch: epoch)
      let t0 = now()
      for b in 0..<batches {
        let lo = b * B
        let hi = min(lo + B, n)
        let slice = order[lo..<hi]
        ex.setBatch(rows: hi - lo) { first, count, sparse, dense, labels in
          data.train.gather(
            indices: slice[(lo + first)..<(lo + first + count)], into: sparse, dense: dense, labels: labels)
        }
        let before = mtlc_malloc_count()
        let loss = ex.step()
        let after = mtlc_malloc_count()
        guard loss.isFinite else { throw BenchError.diverged(epoch, b) }
        if epoch > 1 { stepAllocs += after - before }
      }
      let t1 = now()
      if epoch > 1 {
        seconds += t1 - t0
        steps += batches
        epochAllocs += mtlc_malloc_count() - a0
      }
    }
    let measured = Double(max(2, epochs) - 1)
    return Result(
      samplesPerSecond: Double(n) * measured / seconds, msPerStep: 1000 * seconds / Double(steps),
      allocsPerStep: Double(stepAllocs) / Double(steps), allocsPerEpoch: Double(epochAllocs) / measured)
  }
}

/// Matrix-product FLOPs of one training sample: forward x·w, backward xᵀ·dz and dz·wᵀ (the latter
/// only where the input needs a gradient). Other ops are memory-bound and not counted.
enum Flops {
  static func perSample(_ g: Graph) -> Double {
    var needs = Array(repeating: false, count: g.values.count)
    for op in g.ops { needs[op.output] = !op.params.isEmpty || op.inputs.contains { needs[$0] } }
    var total = 0.0
    for op in g.ops {
      let x = g.values[op.inputs.first ?? 0]
      let y = g.values[op.output]
      let (i, o, e): (Double, Double, Double)
      switch op.kind {
      case .linear: (i, o, e) = (Double(x.rowWidth), Double(y.rowWidth), 1)
      case .expertLinear: (i, o, e) = (Double(x.width), Double(y.width), Double(y.experts))
      default: continue
      }
      let passes = needs[op.inputs[0]] ? 3.0 : 2.0
      total += passes * 2 * i * o * e
    }
    return total
  }
}

/// The matrix libraries' rates on large products and on the model's own shapes.
enum GemmRate {
  static func time(
    M: Int, N: Int, K: Int, transA: Bool = false, transB: Bool = false, minSeconds: Double = 0.02,
    using library: GemmLibrary? = nil
  ) -> Double {
    let a = [Float](repeating: 0.5, count: M * K)
    let b = [Float](repeating: 0.25, count: K * N)
    var c = [Float](repeating: 0, count: M * N)
    var reps = 0
    let t0 = now()
    var t = t0
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        c.withUnsafeMutableBufferPointer { cp in
          // Small products run in bursts between clock reads, so the clock does not weigh on them.
          let burst = max(1, 1 << 21 / max(1, M * N * K))
          repeat {
            for _ in 0..<burst {
              BLAS.gemm(
                transA: transA, transB: transB, M: M, N: N, K: K, alpha: 1, a: ap.baseAddress!, lda: transA ? M : K,
                b: bp.baseAddress!, ldb: transB ? K : N, beta: 1, c: cp.baseAddress!, ldc: N, using: library)
            }
            reps += burst
            t = now()
          } while t - t0 < minSeconds
        }
      }
    }
    return (t - t0) / Double(reps)
  }

  /// GFLOP/s of one thread on 1024³ (the library `gemm` picks for it).
  static func large() -> Double {
    _ = time(M: 1024, N: 1024, K: 1024, minSeconds: 0.05)
    let s = time(M: 1024, N: 1024, K: 1024, minSeconds: 0.3)
    return 2 * 1024 * 1024 * 1024 / s / 1e9
  }

  /// One product of a training step, as `Kernels` calls it: y = x·w (forward), dW = xᵀ·dz, dX = dz·wᵀ,
  /// with `M` rows = one thread's share of the batch.
  struct Shape: Hashable, Comparable {
    var M: Int, N: Int, K: Int, transA: Bool, transB: Bool
    var name: String { "\(M)x\(N)x\(K)" + (transA ? " Tn" : transB ? " nT" : " nn") }
    static func < (a: Shape, b: Shape) -> Bool { (a.M, a.N, a.K, a.name) < (b.M, b.N, b.K, b.name) }
  }

  /// Every product of a step of `g` on `threads` threads, with how often it runs per step and thread.
  static func products(_ g: Graph, threads: Int) -> [Shape: Int] {
    var needs = Array(repeating: false, count: g.values.count)
    for op in g.ops { needs[op.output] = !op.params.isEmpty || op.inputs.contains { needs[$0] } }
    let rows = (g.training.batchSize + threads - 1) / threads
    var out: [Shape: Int] = [:]
    for op in g.ops {
      let x = g.values[op.inputs.first ?? 0]
      let y = g.values[op.output]
      let (i, o, e): (Int, Int, Int)
      switch op.kind {
      case .linear: (i, o, e) = (x.rowWidth, y.rowWidth, 1)
      case .expertLinear: (i, o, e) = (x.width, y.width, y.experts)
      default: continue
      }
      out[Shape(M: rows, N: o, K: i, transA: false, transB: false), default: 0] += e
      out[Shape(M: i, N: o, K: rows, transA: true, transB: false), default: 0] += e
      if needs[op.inputs[0]] { out[Shape(M: rows, N: i, K: o, transA: false, transB: true), default: 0] += e }
    }
    return out
  }

  /// Seconds of one product of this shape on the library `gemm` picks (or `library`).
  static func time(_ s: Shape, using library: GemmLibrary? = nil) -> Double {
    time(M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, using: library)
  }

  /// Samples/s if training did nothing but the model's matrix products, each at the rate its library
  /// reaches on that very shape (rows = this thread's share of a batch), on `threads` cores.
  static func limit(_ g: Graph, threads: Int) -> Double {
    let rows = (g.training.batchSize + threads - 1) / threads
    let seconds = products(g, threads: threads).reduce(0.0) { $0 + Double($1.value) * time($1.key) }
    // Each of the `threads` threads does its `rows` rows in `seconds`, side by side.
    return Double(rows * threads) / seconds
  }
}

/// `mtlc run` as a user runs it: process start to metrics printed, and its peak memory.
enum EndToEnd {
  static func run(_ mtlc: String, spec: String) -> (seconds: Double, peakMB: Double)? {
    guard FileManager.default.isExecutableFile(atPath: mtlc) else { return nil }
    var pid: pid_t = 0
    let args = [mtlc, "run", spec, "-q"]
    var cargs = args.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let t0 = now()
    guard posix_spawn(&pid, mtlc, &actions, nil, &cargs, environ) == 0 else { return nil }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid else { return nil }
    let seconds = now() - t0
    return (seconds, Double(usage.ru_maxrss) / 1024)
  }
}

/// MMOE with `native-country` hashed into N buckets: the sparse update must keep the step time
/// flat as N grows.
enum VocabScaling {
  static func run(buckets: [Int], epochs: Int) throws -> [VocabRow] {
    var out: [VocabRow] = []
    for n in buckets {
      var o = Compiler.Options()
      o.readData = false
      guard var g = Compiler.compile(path: "specs/mmoe.yaml", options: o).graph else { continue }
      guard let slot = g.pipeline.sparse.firstIndex(where: { $0.name == "native-country" }) else { continue }
      g.pipeline.sparse[slot].vocabulary = .hashed(buckets: n)
      for i in g.params.indices where g.params[i].rowsFrom == "native-country" {
        g.params[i].rowsFrom = nil
        g.params[i].shape[0] = n + 1
      }
      let data = try LoadedData.load(g.pipeline)
      let m = try Measure.training(graph: g, data: data, threads: Session.defaultThreads, epochs: epochs)
      out.append(VocabRow(buckets: n, samplesPerSecond: m.samplesPerSecond, msPerStep: m.msPerStep))
      print(String(format: "vocabulary %10d buckets: %9.0f samples/s", n, m.samplesPerSecond))
    }
    return out
  }
}

enum BenchError: Error { case diverged(Int, Int) }
