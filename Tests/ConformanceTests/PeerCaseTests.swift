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
  /// An MLP of dense layers with bias (DeepCTR's and DeepCTR-Torch's `DNN`, TorchEasyRec's `MLP`).
  static func mlp(_ i: Int, _ units: [Int]) -> Int {
    zip([i] + units, units).reduce(0) { $0 + dense($1.0, $1.1) }
  }

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

  // DeepCTR-Torch (deepctr_torch/models/multitask, layers/core.py, basemodel.py): input width 27;
  // experts DNN (32, 16) of nn.Linear with bias; a gate is an optional DNN then nn.Linear(·, E,
  // bias=False); a tower an optional DNN then nn.Linear(·, 1, bias=False); each task's
  // PredictionLayer adds one bias. The multitask models pass no linear (wide) features: no
  // parameters there.
  static let torchInput = 27
  static let expert = [32, 16]

  /// A task head: the tower DNN on `width`, the logit without bias, the PredictionLayer's bias.
  static func head(_ width: Int, _ tower: [Int]) -> Int { mlp(width, tower) + (tower.last ?? width) + 1 }
  /// A gate: its DNN, then E logits without bias.
  static func gate(_ width: Int, _ hidden: [Int], _ experts: Int) -> Int {
    mlp(width, hidden) + (hidden.last ?? width) * experts
  }

  static func torchMMOE(_ i: Int, gate g: [Int], tower t: [Int]) -> PeerCase {
    PeerCase(
      name: "torch_mmoe_\(i)",
      parameters: 3 * mlp(torchInput, expert) + 2 * gate(torchInput, g, 3) + 2 * head(16, t))
  }

  /// PLE: at level l the task inputs and the shared input are `torchInput` (l = 1) or 16 wide; each
  /// level has 2·specific + shared experts, 2 task gates over specific + shared experts and a shared
  /// gate over all of them, the last level's too (created, never read). mtlc builds no block that
  /// nothing reads, so its count is the peer's less that last shared gate.
  static func torchPLE(_ i: Int, shared: Int, specific: Int, levels: Int, gate g: [Int], tower t: [Int]) -> PeerCase {
    var peer = 0
    var lastSharedGate = 0
    for l in 1...levels {
      let w = l == 1 ? torchInput : 16
      peer += (2 * specific + shared) * mlp(w, expert)
      peer += 2 * gate(w, g, specific + shared)
      lastSharedGate = gate(w, g, 2 * specific + shared)
      peer += lastSharedGate
    }
    peer += 2 * head(16, t)
    return PeerCase(name: "torch_ple_\(i)", parameters: peer - lastSharedGate)
  }

  static let torch: [PeerCase] = [
    // MMOE_test.py: (num_experts 3, expert (32, 16), gate, tower, task types).
    torchMMOE(1, gate: [64], tower: [64]),  // 10,546
    torchMMOE(2, gate: [], tower: [64]),  // 6,740
    torchMMOE(3, gate: [64], tower: []),  // 8,274
    torchMMOE(4, gate: [], tower: []),  // 4,468
    torchMMOE(5, gate: [64], tower: [64]),  // binary + regression: 10,546
    // PLE_test.py: (shared, specific, levels, expert (32, 16), gate, tower, task types).
    torchPLE(1, shared: 1, specific: 1, levels: 2, gate: [64], tower: [64]),  // peer 19,330 less 1,280
    torchPLE(2, shared: 3, specific: 3, levels: 3, gate: [], tower: [64]),  // peer 35,657 less 144
    torchPLE(3, shared: 3, specific: 3, levels: 3, gate: [64], tower: []),  // peer 48,082 less 1,664
    torchPLE(4, shared: 3, specific: 3, levels: 3, gate: [], tower: []),  // peer 33,385 less 144
    torchPLE(5, shared: 3, specific: 3, levels: 3, gate: [64], tower: [64]),  // peer 50,354 less 1,664
    // SharedBottom_test.py: bottom DNN (32, 16), tower, task types.
    PeerCase(name: "torch_shared_bottom_1", parameters: mlp(torchInput, expert) + 2 * head(16, [64])),  // 3,730
    PeerCase(name: "torch_shared_bottom_2", parameters: mlp(torchInput, expert) + 2 * head(16, [])),  // 1,458
    PeerCase(name: "torch_shared_bottom_3", parameters: mlp(torchInput, expert) + 2 * head(16, [64])),  // 3,730
    // ESMM_test.py: CTR and CVR DNN (32, 16) on the input, logits without bias, and one bias: the
    // peer keeps BaseModel's single PredictionLayer for both heads (2,881); mtlc gives each logit
    // its own bias, one more.
    PeerCase(name: "torch_esmm", parameters: 2 * mlp(torchInput, expert) + 2 * 16 + 1 + 1),
  ]

  // TorchEasyRec (tzrec/models/ple.py, modules/extraction_net.py, modules/mlp.py,
  // modules/task_tower.py): MLP layers nn.Linear with bias (no BN by default); each gate one
  // nn.Linear with bias over its experts; the last level builds no shared gate; a task tower is an
  // optional MLP then nn.Linear(·, 1) with bias. Input width 16 + 8 + 1 = 25.
  static let easyRec: [PeerCase] = {
    let w = 25
    // Level 1: 3 tasks × 3 experts MLP [12, 8, 4], 4 shared MLP [12, 8, 6, 4], 3 task gates over
    // 3 + 4 experts, a shared gate over 9 + 4.
    let level1 = 9 * mlp(w, [12, 8, 4]) + 4 * mlp(w, [12, 8, 6, 4]) + 3 * dense(w, 7) + dense(w, 13)
    // Level 2 (inputs 4 wide): 9 experts and 3 shared MLP [8, 12, 8], task gates over 3 + 3, a
    // shared gate over 9 + 3.
    let level2 = 9 * mlp(4, [8, 12, 8]) + 3 * mlp(4, [8, 12, 8]) + 3 * dense(4, 6) + dense(4, 12)
    // Level 3 (inputs 8 wide): 6 experts and 2 shared MLP [12, 6], task gates over 2 + 2, no shared gate.
    let level3 = 6 * mlp(8, [12, 6]) + 2 * mlp(8, [12, 6]) + 3 * dense(8, 4)
    // Towers on the 6-wide level-3 outputs: is_click MLP [8, 4], is_buy none, cost_price [12, 6].
    let towers = mlp(6, [8, 4]) + dense(4, 1) + dense(6, 1) + mlp(6, [12, 6]) + dense(6, 1)
    return [PeerCase(name: "torcheasyrec_ple", parameters: level1 + level2 + level3 + towers)]  // 11,987
  }()
}

@Suite struct PeerCaseTests {
  static let cases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Cases")

  /// get_mtl_test_data()-like rows for every case's columns: categories uniform over their values,
  /// dense values in [0, 1), bags of 0-6 values (longer than some max_length), binary labels at
  /// random and regression labels; TorchEasyRec's cat_a as 1-3 ids, cat_b one of 1000. Seeded.
  static func randomCSV(rows: Int = 200, seed: UInt64 = 1) -> String {
    var rng = SeededRNG(seed: seed, stream: "conformance")
    func pick(_ prefix: String, _ n: Int) -> String { "\(prefix)\(rng.nextInt(below: n))" }
    func bag(_ n: Int, _ most: Int) -> String {
      (0..<rng.nextInt(below: most + 1)).map { _ in pick("s", n) }.joined(separator: "|")
    }
    var out = "sparse_feature_0,sparse_feature_1,sparse_feature_2,dense_feature_0,dense_feature_1,dense_feature_2,"
    out += "sequence_sum,sequence_mean,sequence_max,label_income,label_marital,label_reg,"
    out += "cat_a,cat_b,int_a,is_click,is_buy,cost_price\n"
    for _ in 0..<rows {
      var cells = [pick("v", 7), pick("v", 5), pick("v", 3)]
      cells += (0..<3).map { _ in "\(rng.nextFloat())" }
      cells += [bag(4, 5), bag(6, 6), bag(8, 6)]
      cells += ["\(rng.nextInt(below: 2))", "\(rng.nextInt(below: 2))", "\(rng.nextFloat())"]
      cells.append((0..<(1 + rng.nextInt(below: 3))).map { _ in "\(rng.nextInt(below: 100))" }.joined(separator: "|"))
      cells += ["\(rng.nextInt(below: 1000))", "\(rng.nextFloat())"]
      cells += ["\(rng.nextInt(below: 2))", "\(rng.nextInt(below: 2))", "\(10 * rng.nextFloat())"]
      out += cells.joined(separator: ",") + "\n"
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

  @Test(arguments: Peers.deepctr + Peers.torch + Peers.easyRec)
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
    // Each table: the peer's vocabulary_size (its value list or buckets) + mtlc's missing/unseen row.
    for op in graph.ops where op.kind == .embed {
      let f = graph.pipeline.sparse[op.slot!]
      let peerRows: Int
      switch f.vocabulary {
      case .fixed(let values): peerRows = values.count
      case .hashed(let buckets): peerRows = buckets
      case .learned: peerRows = -1
      }
      #expect(graph.params[op.params[0]].shape == [peerRows + 1, f.embeddingDim], "\(f.name)")
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
