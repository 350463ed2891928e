// The peers' own multi-task test cases, re-expressed as mtlc specs (Cases/*.yaml, each naming the
// test it comes from): each compiles to the shapes the peer builds, holds the parameter count the
// peer's code fixes (derived below from their layer definitions, read with the search tool), and
// trains one epoch.
//
// Parameter counts leave out the embedding tables, whose row count differs by design: mtlc's table
// has row 0 for missing and unseen values besides one row per vocabulary value (pinned separately as
// V + 1); DeepCTR's and DeepCTR-Torch's have exactly `vocabulary_size` rows. Every other tensor
// matches one to one: a DNN layer is a Dense with bias (w [I, O], b [O]); a gate's logits a Dense
// without bias (DeepCTR: `Dense(num_experts, use_bias=False)`); a task's logit a Dense(1) without
// bias followed by `PredictionLayer`, which adds one bias — mtlc's logit layer with its bias.
import Foundation
import MTLCompiler
import MTLData
import MTLDiagnostics
import MTLGraph
import MTLSupport
import MTLTrain
import Testing

struct PeerCase: CustomTestStringConvertible, Sendable {
  /// Cases/NAME.yaml.
  var name: String
  /// Trainable parameters outside the embedding tables, as the peer's model has them.
  var parameters: Int
  /// Warnings the spec is expected to give (e.g. a block the peer leaves out of its model).
  var warnings: [String] = []
  var testDescription: String { name }
}

enum Peers {
  /// Input width of get_mtl_test_data(): one sparse feature embedded in 4 plus one dense value.
  static let input = 4 + 1

  /// A dense layer with bias: I·O + O.
  static func dense(_ i: Int, _ o: Int) -> Int { i * o + o }

  static let deepctr: [PeerCase] = [
    // SharedBottom: bottom DNN(8) on the input, per task DNN(8) and a logit (8 weights + 1 bias).
    PeerCase(name: "deepctr_shared_bottom", parameters: dense(input, 8) + 2 * (dense(8, 8) + dense(8, 1))),  // 48 + 2·81 = 210
    // ESMM: a CTR and a CVR tower, DNN(8) on the input each, and their logits.
    PeerCase(name: "deepctr_esmm", parameters: 2 * (dense(input, 8) + dense(8, 1))),  // 2·57 = 114
    // MMOE: 3 experts DNN(8) on the input; per task a gate Dense(3, no bias) on the input, a tower
    // DNN(8) and a logit.
    PeerCase(
      name: "deepctr_mmoe",
      parameters: 3 * dense(input, 8) + 2 * (input * 3) + 2 * (dense(8, 8) + dense(8, 1))),  // 144 + 30 + 162 = 336
    // PLE, 2 levels, 0 shared and 1 specific expert per task. Level 1: 2 experts DNN(8) on the input,
    // 2 task gates Dense(1, no bias) on the input (the shared gate's output reaches no task, so it is
    // not in the Keras model). Level 2: 2 experts DNN(8) on their task's level-1 output (8 wide), 2
    // task gates Dense(1, no bias) on it. Towers DNN(8) and logits.
    PeerCase(
      name: "deepctr_ple_2_levels",
      parameters: 2 * dense(input, 8) + 2 * (input * 1) + 2 * dense(8, 8) + 2 * (8 * 1) + 2
        * (dense(8, 8) + dense(8, 1)),  // 96 + 10 + 144 + 16 + 162 = 428
      warnings: ["W0301"]),
    // PLE, 1 level, gate DNN (4,): 2 experts DNN(8); per task a gate DNN(4) on the input and
    // Dense(1, no bias) on its 4 units; towers and logits.
    PeerCase(
      name: "deepctr_ple_1_level_gate_dnn",
      parameters: 2 * dense(input, 8) + 2 * (dense(input, 4) + 4 * 1) + 2 * (dense(8, 8) + dense(8, 1))),  // 96 + 56 + 162 = 314
  ]
}

@Suite struct PeerCaseTests {
  static let cases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases")

  /// get_mtl_test_data()-like rows: the sparse feature uniform over its 7 values, the dense one in
  /// [0, 1), binary labels at random and a regression label; seeded, so every run sees the same.
  static func randomCSV(rows: Int = 200, seed: UInt64 = 1) -> String {
    var rng = SeededRNG(seed: seed, stream: "conformance")
    var out = "sparse_feature_0,dense_feature_0,label_income,label_marital,label_reg,hist_seq,hist_seq_2\n"
    for _ in 0..<rows {
      let s = "v\(rng.nextInt(below: 7))"
      let d = rng.nextFloat()
      let a = rng.nextInt(below: 2)
      let b = rng.nextInt(below: 2)
      let r = rng.nextFloat()
      let bag = (0..<rng.nextInt(below: 5)).map { _ in "h\(rng.nextInt(below: 9))" }.joined(separator: "|")
      let bag2 = (0..<rng.nextInt(below: 5)).map { _ in "h\(rng.nextInt(below: 9))" }.joined(separator: "|")
      out += "\(s),\(d),\(a),\(b),\(r),\(bag),\(bag2)\n"
    }
    return out
  }

  /// The case's spec and the shared files, copied into a fresh folder with the random data.
  static func stage(_ name: String) throws -> (dir: URL, spec: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-conformance-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for file in try FileManager.default.contentsOfDirectory(atPath: cases.path) where file.hasSuffix(".yaml") {
      try FileManager.default.copyItem(at: cases.appendingPathComponent(file), to: dir.appendingPathComponent(file))
    }
    try randomCSV().write(to: dir.appendingPathComponent("random.csv"), atomically: true, encoding: .utf8)
    return (dir, dir.appendingPathComponent("\(name).yaml").path)
  }

  @Test(arguments: Peers.deepctr)
  func compilesToThePeersParametersAndTrains(_ c: PeerCase) throws {
    let (dir, spec) = try Self.stage(c.name)
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = Compiler.compile(path: spec)
    let graph = try #require(r.boundGraph, "\(r.rendered)")
    #expect(r.diagnostics.all.map(\.code.id) == c.warnings, "\(r.rendered)")

    let nonEmbedding = graph.params.filter { $0.kind != .embedding && $0.kind != .statistic }.reduce(0) {
      $0 + $1.count
    }
    #expect(nonEmbedding == c.parameters, "parameters outside the embedding tables")
    for p in graph.params where p.kind == .embedding {
      #expect(p.shape == [7 + 1, 4], "\(p.name): 7 values + the missing/unseen row, 4 wide")
    }
    // Every task's prediction is one value per row, as the peer's outputs.
    for t in graph.tasks { #expect(graph.values[t.prediction].rowWidth == 1, "\(t.name)") }

    // One epoch through the library, as `mtlc run --epochs 1` does.
    var job = RunJob(graph: try #require(r.graph))
    job.epochs = 1
    let result = try job.run()
    #expect(result.metrics.count == graph.tasks.count)
    for m in result.metrics where m.type == "binary" {
      #expect(m.auc.map { (0...1).contains($0) } ?? true, "\(m.task)")
    }
  }
}
