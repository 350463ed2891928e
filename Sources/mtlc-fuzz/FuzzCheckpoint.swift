// Target `checkpoint`: a checkpoint file (docs/graph-format.md, "Checkpoint") as `mtlc run
// --resume`, `predict`, `evaluate` and `export` read it (`Inference.restore`): decode, preflight
// the model bound to the checkpoint's fitted vocabularies, build the session, restore. Decoding must
// throw `CheckpointError` or return; restoring into the fixed model `spec` below must throw
// `CheckpointError` or succeed, and a restored session must train a step on data encoded with the
// checkpoint's fitted pipeline and write a checkpoint that reads back.
//
// A fuzzer rarely forges a CRC-32, so every input runs twice: as it is (which reaches the magic
// and checksum checks), and with its last 4 bytes replaced by the CRC-32 of the rest (which reaches
// the header and payload checks). Seeds: fuzz/seeds/checkpoint/ (a 1-epoch run of `spec`, see
// fuzz/seeds/tiny.yaml); dictionary fuzz/checkpoint.dict.
import MTLCompiler
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

enum CheckpointTarget {
  /// The model checkpoints are restored into: fuzz/seeds/tiny.yaml, byte for byte (the seed
  /// checkpoint was written by `mtlc run fuzz/seeds/tiny.yaml --epochs 1 --threads 1
  /// --checkpoint-dir DIR`; keep the two equal).
  static let spec = """
    mtlc: 1
    name: tiny-fuzz
    description: A tiny MMoE with GradNorm for the checkpoint fuzz target (scripts/fuzz --target checkpoint) and its seed

    data:
      train: ../../data/adult.csv
      test_fraction: 0.2
      split_seed: 7
      missing: ["?"]

    features:
      - {name: workclass, kind: sparse, embedding_dim: 2}
      - {name: race,      kind: sparse, embedding_dim: 2, vocabulary: {values: [White, Black, Other]}}
      - {name: sex,       kind: sparse, embedding_dim: 2, vocabulary: {hash_buckets: 4}}
      - {name: age,       kind: dense,  normalize: minmax}
      - {name: hours,     kind: dense,  normalize: standard, column: hours-per-week}

    tasks:
      income:  {type: binary, label: {column: income-per-year, positive: [">50K"]}}
      marital: {type: binary, label: {column: marital-status,  positive: [Never-married]}}

    experts:
      shared: {count: 2, input: features, units: [4], activation: relu}

    gates:
      income:  {input: features, experts: [shared]}
      marital: {input: features, experts: [shared]}

    towers:
      income:  {input: gates.income,  units: [4]}
      marital: {input: gates.marital, units: [4]}

    training:
      optimizer: {type: adam, learning_rate: 0.01}
      batch_size: 64
      epochs: 1
      seed: 11
      l2: {embeddings: 1.0e-5}
      loss_balancing: {method: gradnorm, alpha: 1.5}

    """

  static let graph: Graph = {
    var options = Compiler.Options()
    options.readData = false
    let r = Compiler.compile(bytes: Array(spec.utf8), path: "fuzz/seeds/tiny.yaml", options: options)
    guard let g = r.graph, r.succeeded else {
      fatalError("the checkpoint target's model does not compile:\n\(r.rendered)")
    }
    return g
  }()

  /// `MTLC_FUZZ_STRICT=1`: known findings are reported too.
  static let strict = getenv("MTLC_FUZZ_STRICT").map { String(cString: $0) == "1" } ?? false

  static func run(_ bytes: [UInt8]) {
    restore(bytes)
    if bytes.count >= 8 {
      let fixed = withValidCRC(bytes)
      if fixed != bytes { restore(fixed) }
    }
  }

  /// `bytes` with the last 4 bytes set to the CRC-32 of the others, little-endian.
  static func withValidCRC(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    let body = b.count - 4
    let crc = Checksum.crc32(b[0..<body])
    for k in 0..<4 { b[body + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
    return b
  }

  static func restore(_ bytes: [UInt8]) {
    let c: Checkpoint
    do { c = try Checkpoint.decode(bytes, path: "fuzz.mtlc") } catch let e as CheckpointError {
      if e.description.isEmpty { finding("an empty CheckpointError") }
      return
    } catch {
      finding("Checkpoint.decode threw \(type(of: error)), not CheckpointError: \(error)")
    }
    if c.fitted.check() != nil { finding("Checkpoint.decode returned a fitted pipeline that fails its check") }
    if let m = c.model, m.check() != nil { finding("Checkpoint.decode returned a model that fails its check") }

    // As `Inference.restore` does it, on one thread (the thread count changes no size).
    do { try Session.preflight(graph: graph, fitted: c.fitted, threads: 1) } catch is GraphProblem {
      return
    } catch is MemoryPlan.TooLarge {
      return
    } catch {
      finding("Session.preflight threw \(type(of: error)): \(error)")
    }
    let bound = c.fitted.bind(graph)
    if MemoryPlan.bytes(graph: bound, maxBatch: graph.training.batchSize, threads: 1) > ModelTarget.memoryBudget {
      return
    }
    if !bound.isBound {
      finding(
        "Session.preflight passed a fitted pipeline that leaves embedding tables unbound (its sparse features: \(c.fitted.sparse.map(\.name))); Executor.init traps on it"
      )
    }
    let session = Session(graph: graph, fitted: c.fitted, seed: c.seed, threads: 1)
    do { try session.restore(c) } catch let e as CheckpointError {
      if e.description.isEmpty { finding("an empty CheckpointError from restore") }
      return
    } catch {
      finding("Session.restore threw \(type(of: error)), not CheckpointError: \(error)")
    }

    // Restored: data encoded with the checkpoint's fitted pipeline has ids in 0..<tableRows of
    // each feature; every table must hold them.
    let rows = c.fitted.sparse.map(\.tableRows)
    ModelTarget.checkTables(session.graph, sparseRows: rows)
    ModelTarget.step(session.executor, sparseRows: rows)

    // What was restored can be saved again (`mtlc run` writes a checkpoint after every epoch).
    let saved = session.checkpoint()
    // A known finding, reported and not fixed yet: a step on huge (finite) restored weights leaves
    // GradNorm's state non-finite (its gradient on the task weights overflows a Float, and no
    // finiteness check covers the balancer), and `Checkpoint.encode` then silently writes an
    // empty header. Excluded so that fuzzing goes on; MTLC_FUZZ_STRICT=1 reports it.
    if !strict && !nonFiniteFields(saved).isEmpty { return }
    do { _ = try Checkpoint.decode(saved.encode(), path: "again.mtlc") } catch {
      finding(
        "a restored session writes a checkpoint that does not read back: \(error); non-finite header fields: \(nonFiniteFields(saved))"
      )
    }
  }

  /// The header fields of `c` JSON cannot hold (NaN or an infinity), for a finding's message.
  static func nonFiniteFields(_ c: Checkpoint) -> [String] {
    var out: [String] = []
    if !c.partialLoss.isFinite { out.append("partialLoss = \(c.partialLoss)") }
    if c.partialTaskLoss.contains(where: { !$0.isFinite }) { out.append("partialTaskLoss = \(c.partialTaskLoss)") }
    if c.balancer.contains(where: { !$0.isFinite }) { out.append("balancer = \(c.balancer)") }
    for (i, h) in c.history.enumerated() where !h.loss.isFinite || h.taskLoss.values.contains(where: { !$0.isFinite }) {
      out.append("history[\(i)]")
    }
    return out
  }
}
