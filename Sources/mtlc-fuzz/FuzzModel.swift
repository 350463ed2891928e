// Target `model`: a compiled model file (JSON, docs/graph-format.md) as `mtlc run MODEL`,
// `predict` and `evaluate` read it. `GraphFile.decode` must refuse the file with a
// `GraphFile.Error` or return a graph the verifier passes; the runtime then binds the embedding
// tables, plans the memory and executes, trusting that verdict, so the harness does the same and
// any trap or address error past the verifier is a gap in it. Seeds: every spec compiled
// (scripts/fuzz) and fuzz/seeds/model/; dictionary fuzz/model.dict.
import MTLCompiler
import MTLGraph
import MTLRuntime

enum ModelTarget {
  /// Plans over this many bytes are not executed (the verifier has passed them; allocating them
  /// only slows fuzzing).
  static let memoryBudget = Double(64 << 20)
  /// Table rows of the learned vocabulary of sparse slot `s` (`rowsFrom`) in the bound graph: a
  /// few, different for neighbouring features, as real vocabularies are.
  static func learnedRows(_ s: Int) -> Int { 3 + s % 4 }

  static func run(_ bytes: [UInt8]) {
    let graph: Graph
    do { graph = try GraphFile.decode(bytes, path: "fuzz.mtlc.json") } catch let e as GraphFile.Error {
      if e.description.isEmpty { finding("an empty GraphFile.Error") }
      return
    } catch {
      finding("GraphFile.decode threw \(type(of: error)), not GraphFile.Error: \(error)")
    }
    if let p = graph.check() { finding("GraphFile.decode returned a graph that fails its check: \(p)") }

    // What the CLI shows of a model it read, and the file format round trip.
    _ = GraphPrinter.print(graph)
    _ = Summary.render(graph)
    _ = ModelIdentity.fingerprint(graph)
    do {
      let again = try GraphFile.decode(GraphFile.encode(graph), path: "again.mtlc.json")
      if again != graph { finding("the graph changed in a GraphFile encode/decode round trip") }
    } catch {
      finding("a graph GraphFile.decode accepted does not read back once written: \(error)")
    }

    // Bound as `Session` binds it: each sparse feature's table rows are what its fitted vocabulary
    // gives (`FittedPipeline.vocabularySizes`): a few for a learned one, 1 + the list for a fixed
    // one, 1 + the buckets for a hashed one.
    let rows = encoderRows(graph.pipeline)
    var vocabularyRows: [String: Int] = [:]
    for (s, f) in graph.pipeline.sparse.enumerated() where vocabularyRows[f.name] == nil {
      vocabularyRows[f.name] = rows[s]
    }
    let bound = graph.bound(vocabularyRows: vocabularyRows)
    if bound.check() != nil { return }  // `Session.preflight` refuses it with that problem
    if !bound.isBound { finding("a bound graph that passes its check still has an unbound table") }
    _ = Summary.render(bound)
    let batch = graph.training.batchSize
    let need = MemoryPlan.bytes(graph: bound, maxBatch: batch, threads: 1)
    guard need.isFinite, need >= 0 else { finding("the memory plan is \(need) bytes") }
    if need > memoryBudget { return }
    execute(bound, sparseRows: rows)
  }

  /// The row count of each sparse slot's ids as the data encoder produces them: ids lie in
  /// 0..<rows (row 0: missing or unseen).
  static func encoderRows(_ p: Pipeline) -> [Int] {
    p.sparse.enumerated().map { s, f in
      switch f.vocabulary {
      case .learned: return learnedRows(s)
      case .fixed(let list): return 1 + list.count
      case .hashed(let buckets): return 1 + buckets
      }
    }
  }

  /// Builds an executor for `graph` (bound), draws its parameters and runs one training step and
  /// one forward pass on a batch whose sparse ids span `sparseRows` of each slot, as the data
  /// encoder would feed it.
  static func execute(_ graph: Graph, sparseRows: [Int], restore: ((Executor) -> Void)? = nil) {
    checkTables(graph, sparseRows: sparseRows)
    let executor = Executor(graph: graph, maxBatch: graph.training.batchSize, threads: 1)
    executor.initialize(seed: 1)
    restore?(executor)
    step(executor, sparseRows: sparseRows)
  }

  /// What the embedding kernels rely on and the verifier must ensure: every table an `embed` op
  /// reads has a row for every id its slot can hold. A violation would read and write outside the
  /// table (inside the parameter arena, where AddressSanitizer does not see it), so it is checked
  /// here directly.
  static func checkTables(_ graph: Graph, sparseRows: [Int]) {
    for (i, op) in graph.ops.enumerated() where op.kind == .embed {
      guard let slot = op.slot, sparseRows.indices.contains(slot), let t = op.params.first else {
        finding("ops[\(i)]: an embed op without a valid slot and table passed the verifier")
      }
      let table = graph.params[t]
      if table.shape[0] < sparseRows[slot] {
        finding(
          "ops[\(i)]: embed of sparse slot \(slot) (`\(graph.pipeline.sparse[slot].name)`, ids 0..<\(sparseRows[slot])) reads table `\(table.name)` of \(table.shape[0]) rows (rowsFrom: \(table.rowsFrom ?? "none")); the verifier let it through"
        )
      }
    }
  }

  /// One step and one forward pass on a batch of up to 64 rows (the whole batch when it is
  /// smaller), with every slot's ids spread over 0..<rows, its largest id included.
  static func step(_ executor: Executor, sparseRows: [Int]) {
    let g = executor.graph
    let rows = min(executor.maxBatch, 64)
    let S = g.pipeline.sparse.count
    let W = g.pipeline.idColumns
    let offsets = g.pipeline.idOffsets
    let D = g.pipeline.dense.count
    let L = g.pipeline.labels.count
    executor.setBatch(rows: rows) { first, count, sparse, dense, labels in
      for i in 0..<count {
        let r = first + i
        for s in 0..<S {
          let n = max(sparseRows[s], 1)
          let id = Int32(truncatingIfNeeded: r == 0 ? n - 1 : (r &* 7 &+ s) % n)
          // A bag: its first id, then padding.
          let width = g.pipeline.sparse[s].multi?.maxLength ?? 1
          for k in 0..<width { sparse[i * W + offsets[s] + k] = k == 0 ? id : -1 }
        }
        for j in 0..<D { dense[i * D + j] = Float((r + j) % 5) * 0.25 - 0.5 }
        for j in 0..<L { labels[i * L + j] = Float((r + j) % 2) }
      }
    }
    _ = executor.step()
    executor.forward()
    var out: [Float] = []
    for t in g.tasks.indices { executor.appendPredictions(t, to: &out) }
    _ = executor.firstNonFiniteOp()
  }
}
