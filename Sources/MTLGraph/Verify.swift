// The graph verifier: everything a kernel, the data encoder or the memory planner relies on,
// checked before anything is allocated. Model files travel between people, so a damaged or
// hostile one must end in a message, never in a trap or an allocation of 17 TB.
//
// The limits are those of the spec language (docs/spec.md) where it has one, and otherwise
// generous bounds that keep every product of two of them inside Int and every tensor inside a
// 32-bit BLAS argument.

public enum GraphLimits {
  public static let maxBatchSize = 1_000_000
  public static let maxEpochs = 100_000
  /// Floats in one parameter tensor (a BLAS dimension is an Int32).
  public static let maxParamCount = Int(Int32.max)
  /// A value's row: experts × width.
  public static let maxRowWidth = 1 << 24
  public static let maxExperts = 4096
  public static let maxOps = 100_000
  public static let maxEmbeddingDim = 4096
  /// Values of a multi-valued feature kept per cell (`max_length`).
  public static let maxBagLength = 1024
  /// Sparse id columns of an example (one per single-valued feature, `max_length` per bag).
  public static let maxIdColumns = 16_384
  /// Column names of header-less files (`pipeline.columns`).
  public static let maxColumns = 100_000
  public static let maxHashBuckets = 100_000_000
  /// Classes of a multiclass task.
  public static let maxClasses = 10_000
}

/// A problem in a graph, with where it is: a path into the model file (`params[3].shape`).
public struct GraphProblem: Error, Equatable, CustomStringConvertible {
  public var path: String
  public var message: String
  public init(_ path: String, _ message: String) {
    self.path = path
    self.message = message
  }
  public var description: String { path.isEmpty ? message : "`\(path)`: \(message)" }
}

extension Graph {
  /// Structural checks a hand-edited, corrupted or hostile file could break; nil when sound.
  /// Embedding tables may be unbound (0 rows, `rowsFrom` set) in a compiled file.
  public func verify() -> String? { check().map(\.description) }

  /// The first problem, located.
  public func check() -> GraphProblem? {
    do {
      try checkTraining()
      try pipeline.checkFields()
      try checkValues()
      try checkParams()
      try checkOps()
      try checkTasks()
      return nil
    } catch let p as GraphProblem {
      return p
    } catch {
      return GraphProblem("", "\(error)")
    }
  }

  private func checkTraining() throws {
    let t = training
    func need(_ ok: Bool, _ key: String, _ what: String) throws {
      if !ok { throw GraphProblem("training.\(key)", what) }
    }
    try need(
      (1...GraphLimits.maxBatchSize).contains(t.batchSize), "batchSize",
      "batch size \(t.batchSize) is outside 1...\(GraphLimits.maxBatchSize)")
    try need(
      (1...GraphLimits.maxEpochs).contains(t.epochs), "epochs",
      "epoch count \(t.epochs) is outside 1...\(GraphLimits.maxEpochs)")
    try need(t.learningRate.isFinite && t.learningRate > 0, "learningRate", "learning rate must be a positive number")
    try need((0..<1).contains(t.beta1) && (0..<1).contains(t.beta2), "beta1", "beta1 and beta2 must lie in [0, 1)")
    try need(t.epsilon.isFinite && t.epsilon > 0, "epsilon", "epsilon must be a positive number")
    try need((0..<1).contains(t.momentum), "momentum", "momentum must lie in [0, 1)")
    try need(
      t.initialAccumulator.isFinite && t.initialAccumulator >= 0, "initialAccumulator",
      "the initial accumulator must be a non-negative number")
    try need(t.clipNorm.isFinite && t.clipNorm >= 0, "clipNorm", "clip norm must be a non-negative number")
    if let wd = t.weightDecay {
      try need(
        wd.isFinite && (0...1).contains(wd) && t.optimizer == .adamw, "weightDecay",
        "weight decay is adamw's, in [0, 1]")
    }
    if let s = t.schedule {
      try need(
        (0...1_000_000_000).contains(s.warmupSteps) && (1...1_000_000_000).contains(s.decaySteps), "schedule",
        "warm-up steps must lie in 0...10^9 and decay steps in 1...10^9")
      try need(
        s.decayRate.isFinite && s.decayRate > 0 && s.decayRate <= 1 && s.minRate.isFinite
          && (0...1).contains(s.minRate),
        "schedule", "the decay rate must lie in (0, 1] and the minimum rate in [0, 1]")
    }
    if let e = t.earlyStopping {
      try need(
        (0...GraphLimits.maxEpochs).contains(e.patience), "earlyStopping.patience",
        "patience \(e.patience) is outside 0...\(GraphLimits.maxEpochs)")
      try need(
        e.minDelta.isFinite && e.minDelta >= 0, "earlyStopping.minDelta", "min delta must be a non-negative number")
      let (task, metric) = e.parts
      if let task {
        guard let t = tasks.first(where: { $0.name == task && $0.label != nil }) else {
          throw GraphProblem("training.earlyStopping.monitor", "`\(e.monitor)` names no labelled task")
        }
        try need(
          EarlyStopping.metrics(for: t.type).contains(metric), "earlyStopping.monitor",
          "`\(metric)` is not a metric of \(t.type.rawValue) task `\(task)`")
      } else {
        try need(metric == "loss", "earlyStopping.monitor", "`\(e.monitor)` is neither `loss` nor `TASK.METRIC`")
      }
    }
  }

  private func checkValues() throws {
    guard (1...(1 << 24)).contains(pipeline.shardRows), (1...(1 << 28)).contains(pipeline.shuffleWindow) else {
      throw GraphProblem("pipeline", "shardRows and shuffleWindow must be in 1...2^24 and 1...2^28")
    }
    let learned = Set(tasks.filter { $0.type == .multiclass && $0.classes?.isEmpty != false }.map(\.name))
    for (i, v) in values.enumerated() {
      if let t = v.widthFrom, !learned.contains(t) && !tasks.contains(where: { $0.name == t && $0.type == .multiclass })
      {
        throw GraphProblem("values[\(i)].widthFrom", "names no multiclass task (`\(t)`)")
      }
      let unbound = v.width == 0 && v.widthFrom != nil && learned.contains(v.widthFrom!)
      guard (1...GraphLimits.maxExperts).contains(v.experts), v.width >= 1 || unbound,
        v.width <= GraphLimits.maxRowWidth,
        v.experts * v.width <= GraphLimits.maxRowWidth
      else {
        throw GraphProblem(
          "values[\(i)]", "value `\(v.name)` has shape [B,\(v.experts),\(v.width)], outside the limits of a row")
      }
      if let names = v.expertNames, names.count != v.experts {
        throw GraphProblem("values[\(i)].expertNames", "names \(names.count) experts of \(v.experts)")
      }
    }
  }

  private func checkParams() throws {
    for (i, p) in params.enumerated() {
      let at = "params[\(i)]"
      guard (1...3).contains(p.shape.count) else {
        throw GraphProblem(at + ".shape", "parameter `\(p.name)` has \(p.shape.count) dimensions (1 to 3 allowed)")
      }
      var count = 1
      if let t = p.colsFrom, !tasks.contains(where: { $0.name == t && $0.type == .multiclass }) {
        throw GraphProblem(at + ".colsFrom", "names no multiclass task (`\(t)`)")
      }
      for (k, d) in p.shape.enumerated() {
        let unbound =
          (k == 0 && d == 0 && p.rowsFrom != nil) || (k == p.shape.count - 1 && d == 0 && p.colsFrom != nil)
        guard d >= 1 || unbound, d <= GraphLimits.maxParamCount else {
          throw GraphProblem(at + ".shape", "parameter `\(p.name)` has dimension \(d)")
        }
        let (c, overflow) = count.multipliedReportingOverflow(by: Swift.max(d, 1))
        guard !overflow, c <= GraphLimits.maxParamCount else {
          throw GraphProblem(
            at + ".shape",
            "parameter `\(p.name)` has \(p.shape.map(String.init).joined(separator: "x")) floats, over the limit of \(GraphLimits.maxParamCount)"
          )
        }
        count = c
      }
      if let f = p.rowsFrom, !pipeline.sparse.contains(where: { $0.name == f }) {
        throw GraphProblem(at + ".rowsFrom", "names no sparse feature (`\(f)`)")
      }
      guard p.l2.isFinite && p.l2 >= 0 else { throw GraphProblem(at + ".l2", "must be a non-negative number") }
      switch p.initializer {
      case .glorotUniform(let a, let b)
      where a < 1 || b < 1 || a > GraphLimits.maxParamCount || b > GraphLimits.maxParamCount:
        throw GraphProblem(at + ".initializer", "Glorot fans must be positive")
      case .normal(let s) where !(s.isFinite && s >= 0), .uniform(let s) where !(s.isFinite && s >= 0):
        throw GraphProblem(at + ".initializer", "the scale must be a non-negative number")
      case .constant(let v) where !Float(v).isFinite:
        throw GraphProblem(at + ".initializer", "the constant must be a finite Float")
      default: break
      }
    }
  }

  /// Whether two embed ops read features of one shared table (`SparseFeature.table`).
  private func shareTable(_ a: Op, _ b: Op) -> Bool {
    guard let i = a.slot, let j = b.slot, pipeline.sparse.indices.contains(i), pipeline.sparse.indices.contains(j)
    else { return false }
    let (x, y) = (pipeline.sparse[i], pipeline.sparse[j])
    return (x.table ?? x.name) == (y.table ?? y.name)
  }

  private func checkOps() throws {
    guard ops.count <= GraphLimits.maxOps else { throw GraphProblem("ops", "more than \(GraphLimits.maxOps) ops") }
    let nv = values.count
    var defined = [Bool](repeating: false, count: nv)
    var paramUser = [Int?](repeating: nil, count: params.count)
    for (i, op) in ops.enumerated() {
      let at = "ops[\(i)]"
      func fail(_ what: String) -> GraphProblem { GraphProblem(at, "\(op.kind.rawValue) op of `\(op.block)` \(what)") }
      for v in op.inputs where !(0..<nv).contains(v) || !defined[v] {
        throw fail("reads value \(v) before it is defined")
      }
      for p in op.params {
        guard (0..<params.count).contains(p) else { throw fail("uses unknown parameter \(p)") }
        // Only embedding lookups of features that share a table, and linear layers of one block
        // that apply the same projection to several inputs (AITM's attention unit), use one
        // parameter together.
        if let u = paramUser[p],
          !(op.kind == .embed && ops[u].kind == .embed && shareTable(ops[u], op)),
          !(op.kind == .linear && ops[u].kind == .linear && ops[u].block == op.block)
        {
          throw fail("uses parameter `\(params[p].name)` that op \(u) uses too")
        }
        paramUser[p] = i
      }
      guard (0..<nv).contains(op.output), !defined[op.output] else {
        throw fail("writes value \(op.output) twice or out of range")
      }
      defined[op.output] = true
      let out = values[op.output]
      let ins = op.inputs.map { values[$0] }
      let ps = op.params.map { params[$0] }
      func arity(_ inputs: ClosedRange<Int>, _ nparams: ClosedRange<Int>) throws {
        guard inputs.contains(ins.count), nparams.contains(ps.count) else {
          throw fail("has \(ins.count) inputs and \(ps.count) parameters")
        }
      }
      func shape(_ k: Int, _ expected: [Int]) throws {
        // An unbound embedding table matches any row count.
        let s = ps[k].shape
        let matches =
          s.count == expected.count
          && zip(s, expected).enumerated().allSatisfy { j, d in
            d.0 == d.1 || (j == 0 && d.0 == 0 && ps[k].rowsFrom != nil && d.1 == -1)
          }
        guard matches else {
          throw fail(
            "needs parameter `\(ps[k].name)` of shape [\(expected.map { $0 < 0 ? "V" : String($0) }.joined(separator: ","))], not \(ps[k].shapeText)"
          )
        }
      }
      func plain(_ v: Value, _ what: String) throws {
        if v.experts != 1 { throw fail("needs an unstacked \(what), not \(v.shapeText)") }
      }
      switch op.kind {
      case .embed:
        try arity(0...0, 1...1)
        guard let slot = op.slot, (0..<pipeline.sparse.count).contains(slot) else {
          throw fail("embeds an unknown sparse slot")
        }
        try plain(out, "output")
        guard out.width == pipeline.sparse[slot].embeddingDim, ps[0].kind == .embedding else {
          throw fail("writes width \(out.width) for a feature of width \(pipeline.sparse[slot].embeddingDim)")
        }
        try shape(0, [ps[0].shape[0] == 0 ? -1 : ps[0].shape[0], out.width])
        // The table has the rows its vocabulary's ids index: 1 (missing) + the list or the
        // buckets; a learned vocabulary is bound from the fitted pipeline (`rowsFrom`).
        let feature = pipeline.sparse[slot]
        let rows = ps[0].shape[0]
        switch feature.vocabulary {
        case .fixed(let list) where rows != list.count + 1 || ps[0].rowsFrom != nil:
          throw fail("needs a table of \(list.count + 1) rows for its fixed vocabulary, not \(ps[0].shapeText)")
        case .hashed(let b) where rows != b + 1 || ps[0].rowsFrom != nil:
          throw fail("needs a table of \(b + 1) rows for its \(b) hash buckets, not \(ps[0].shapeText)")
        case .learned where ps[0].rowsFrom != (feature.table ?? feature.name):
          throw fail("needs its table's rows bound from the vocabulary of `\(feature.name)`")
        default: break
        }
      case .denseInput:
        try arity(0...0, 0...0)
        try plain(out, "output")
        guard out.width == pipeline.dense.count else {
          throw fail("writes width \(out.width) for \(pipeline.dense.count) dense features")
        }
      case .concat:
        try arity(1...Int.max, 0...0)
        for v in ins + [out] { try plain(v, "value") }
        guard ins.reduce(0, { $0 + $1.width }) == out.width else {
          throw fail("writes width \(out.width), not the sum of its inputs' widths")
        }
      case .linear:
        try arity(1...1, 1...2)
        try plain(ins[0], "input")
        try shape(0, [ins[0].width, out.rowWidth])
        if ps.count == 2 { try shape(1, [out.rowWidth]) }
        // A width bound from a task's classes is bound in the weights and the output together.
        guard ins[0].widthFrom == nil, ps.allSatisfy({ $0.colsFrom == out.widthFrom }) else {
          throw fail("binds its width from classes in some of its tensors only")
        }
      case .expertLinear:
        try arity(1...1, 2...2)
        guard ins[0].experts == out.experts else { throw fail("changes the expert count") }
        try shape(0, [out.experts, ins[0].width, out.width])
        try shape(1, [out.experts, out.width])
      case .softmax:
        try arity(1...1, 0...0)
        try plain(ins[0], "input")
        guard ins[0].width == out.width, out.experts == 1, ins[0].widthFrom == out.widthFrom else {
          throw fail("changes the shape")
        }
      case .mix:
        try arity(2...Int.max, 0...0)
        guard let refs = op.mix, !refs.isEmpty else { throw fail("names no experts") }
        try plain(ins[0], "gate")
        try plain(out, "output")
        for r in refs where !(1..<ins.count).contains(r.input) || !(0..<ins[r.input].experts).contains(r.expert) {
          throw fail("mixes an expert that does not exist")
        }
        for v in ins.dropFirst() where v.width != out.width {
          throw fail("mixes experts of width \(v.width) into width \(out.width)")
        }
        if ins[0].width != refs.count { throw fail("has \(refs.count) experts for a gate of width \(ins[0].width)") }
      case .sigmoid:
        try arity(1...1, 0...0)
        guard ins[0].rowWidth == 1, out.rowWidth == 1 else { throw fail("needs width 1") }
      case .batchNorm:
        try arity(1...1, 4...4)
        guard ins[0].experts == out.experts, ins[0].width == out.width else { throw fail("changes the shape") }
        for k in 0..<4 { try shape(k, [out.rowWidth]) }
        guard ps[0].kind == .bias, ps[1].kind == .bias, ps[2].kind == .statistic, ps[3].kind == .statistic else {
          throw fail("needs γ, β (bias kind) and the running mean and variance (statistic kind)")
        }
        guard let r = op.rate, r.isFinite, r > 0, r <= 1 else { throw fail("needs a running-average rate in (0, 1]") }
      case .dropout:
        try arity(1...1, 0...0)
        guard let r = op.rate, r.isFinite, r >= 0, r < 1 else { throw fail("needs a rate in [0, 1)") }
        guard ins[0].experts == out.experts, ins[0].width == out.width else { throw fail("changes the shape") }
      case .product:
        try arity(1...Int.max, 0...0)
        guard ins.allSatisfy({ $0.rowWidth == 1 }), out.rowWidth == 1 else { throw fail("needs width 1") }
      case .dot:
        try arity(2...2, 0...0)
        guard ins[0].experts == 1, ins[1].experts == 1, ins[0].width == ins[1].width, out.rowWidth == 1 else {
          throw fail("needs two [B, K] inputs of one width and a [B, 1] output")
        }
        guard let s = op.scale, s.isFinite, s > 0 else { throw fail("needs a positive finite scale") }
      case .activation:
        try arity(1...1, op.activation == .prelu ? 1...1 : 0...0)
        guard ins[0].experts == out.experts, ins[0].width == out.width else { throw fail("changes the shape") }
        if op.activation == .prelu { try shape(0, [out.rowWidth]) }
        switch op.activation {
        case .gelu, .swish, .prelu:
          guard op.slope == nil else { throw fail("has a slope; only `leaky_relu` takes one") }
        case .leakyRelu:
          guard let s = op.slope, s.isFinite, s >= 0, s <= 1 else { throw fail("needs a slope in [0, 1]") }
        case .none, .relu, .sigmoid, .tanh:
          throw fail("applies `\(op.activation.rawValue)`, which its producer applies")
        }
      }
      if op.activation != .none && ![.linear, .expertLinear, .batchNorm, .activation].contains(op.kind) {
        throw fail("has an activation; only products, batch normalisation and `activation` take one")
      }
      if [.linear, .expertLinear, .batchNorm].contains(op.kind) && !op.activation.fusesIntoProducer {
        throw fail("applies `\(op.activation.rawValue)` in a producer; it runs as an `activation` op")
      }
      if op.slope != nil && op.kind != .activation { throw fail("has a slope; only `activation` ops take one") }
      if op.scale != nil && op.kind != .dot { throw fail("has a scale; only `dot` ops take one") }
    }
    if let p = paramUser.firstIndex(where: { $0 == nil }) {
      throw GraphProblem("params[\(p)]", "parameter `\(params[p].name)` is used by no op")
    }
  }

  private func checkTasks() throws {
    let defined = Set(ops.map(\.output))
    for (i, t) in tasks.enumerated() {
      let at = "tasks[\(i)]"
      let k = t.classes?.count ?? 0
      if t.type == .multiclass {
        // Learned classes are empty until bound.
        guard k == 0 || ((2...GraphLimits.maxClasses).contains(k) && Set(t.classes!).count == k) else {
          throw GraphProblem(
            at + ".classes", "multiclass task `\(t.name)` needs 2...\(GraphLimits.maxClasses) distinct classes")
        }
      } else if t.classes != nil {
        throw GraphProblem(at + ".classes", "task `\(t.name)` is \(t.type.rawValue) and has no classes")
      }
      let width = t.width
      guard defined.contains(t.prediction), values[t.prediction].rowWidth == width else {
        throw GraphProblem(at + ".prediction", "task `\(t.name)` has no prediction of width \(width)")
      }
      if let l = t.logit, !(defined.contains(l) && values[l].rowWidth == width) {
        throw GraphProblem(at + ".logit", "task `\(t.name)` has no logit of width \(width)")
      }
      if let l = t.label {
        guard (0..<pipeline.labels.count).contains(l) else {
          throw GraphProblem(at + ".label", "task `\(t.name)` reads label \(l) of \(pipeline.labels.count)")
        }
        let fits: Bool
        switch pipeline.labels[l].rule {
        case .classes(let cs): fits = t.type == .multiclass && cs == t.classes
        case .learnedClasses: fits = t.type == .multiclass
        case .positive, .threshold: fits = t.type == .binary
        case .value: fits = t.type == .regression
        }
        guard fits else {
          throw GraphProblem(at + ".label", "task `\(t.name)` reads a label whose rule does not fit its type")
        }
      }
      if tasks[..<i].contains(where: { $0.name == t.name }) {
        throw GraphProblem(at, "two tasks are named `\(t.name)`")
      }
    }
    for (i, l) in losses.enumerated() {
      // A softmax loss reads its task's K logits; the others one value.
      let width =
        l.kind == .softmaxCrossEntropy ? (tasks.first { $0.name == l.task && $0.type == .multiclass }?.width ?? -1) : 1
      guard defined.contains(l.input), values[l.input].rowWidth == width, (0..<pipeline.labels.count).contains(l.label)
      else { throw GraphProblem("losses[\(i)]", "loss of `\(l.task)` is malformed") }
      guard (l.kind == .softmaxCrossEntropy) == pipeline.labels[l.label].isMulticlass else {
        throw GraphProblem("losses[\(i)].kind", "a softmax cross-entropy loss reads a class label, and only it does")
      }
      guard l.weight.isFinite && l.weight >= 0 else {
        throw GraphProblem("losses[\(i)].weight", "loss weight must be a non-negative number")
      }
      if let pw = l.positiveWeight {
        guard pw.isFinite && pw > 0, l.kind == .bceLogits || l.kind == .bceProb else {
          throw GraphProblem("losses[\(i)].positiveWeight", "a positive weight is a positive number on a binary loss")
        }
      }
    }
    for (i, c) in (calibrations ?? []).enumerated() {
      // Two distinct binary predictions (probabilities), a finite weight.
      let probabilities = Set(tasks.filter { $0.type == .binary }.map(\.prediction))
      guard probabilities.contains(c.input), probabilities.contains(c.upstream), c.input != c.upstream,
        c.weight.isFinite, c.weight >= 0
      else { throw GraphProblem("calibrations[\(i)]", "calibration of `\(c.task)` is malformed") }
      guard training.lossBalancing == nil || training.lossBalancing == .uncertainty else {
        throw GraphProblem("calibrations[\(i)]", "a calibration needs loss balancing `none` or `uncertainty`")
      }
    }
  }
}

extension Pipeline {
  /// Ranges of the pipeline's own fields; nil when sound.
  public func check() -> GraphProblem? {
    do {
      try checkFields()
      return nil
    } catch let p as GraphProblem {
      return p
    } catch {
      return GraphProblem("", "\(error)")
    }
  }

  func checkFields() throws {
    let p = self
    if !(p.testFraction >= 0 && p.testFraction < 1) {
      throw GraphProblem("pipeline.testFraction", "the test fraction must lie in [0, 1)")
    }
    if !(p.validationFraction >= 0 && p.validationFraction < 1 && p.testFraction + p.validationFraction < 1) {
      throw GraphProblem(
        "pipeline.validationFraction", "the validation fraction must lie in [0, 1), with the test fraction below 1")
    }
    if p.delimiter.utf8.count != 1 {
      throw GraphProblem("pipeline.delimiter", "the delimiter must be one byte")
    }
    if let cs = p.columns, cs.isEmpty || Set(cs).count != cs.count || cs.count > GraphLimits.maxColumns {
      throw GraphProblem(
        "pipeline.columns", "the column names of header-less files are 1...\(GraphLimits.maxColumns) distinct names")
    }
    if p.idColumns > GraphLimits.maxIdColumns {
      throw GraphProblem(
        "pipeline.sparse",
        "the sparse features need \(p.idColumns) id columns per row, over \(GraphLimits.maxIdColumns)")
    }
    for (i, s) in p.sparse.enumerated() {
      let at = "pipeline.sparse[\(i)]"
      if let m = s.multi {
        guard (1...GraphLimits.maxBagLength).contains(m.maxLength) else {
          throw GraphProblem(at + ".multi.maxLength", "must lie in 1...\(GraphLimits.maxBagLength)")
        }
        guard m.separator.utf8.count == 1, m.separator != p.delimiter, m.separator != "\"" else {
          throw GraphProblem(at + ".multi.separator", "must be one byte, not the delimiter or a quote")
        }
      }
      if !(1...GraphLimits.maxEmbeddingDim).contains(s.embeddingDim) {
        throw GraphProblem(at + ".embeddingDim", "embedding width \(s.embeddingDim) is outside 1...4096")
      }
      switch s.vocabulary {
      case .hashed(let b) where !(1...GraphLimits.maxHashBuckets).contains(b):
        throw GraphProblem(at + ".vocabulary", "hash bucket count \(b) is outside 1...\(GraphLimits.maxHashBuckets)")
      case .learned(let n, let most) where n < 1 || (most ?? 1) < 1:
        throw GraphProblem(at + ".vocabulary", "min count must be at least 1")
      default: break
      }
      if p.sparse[..<i].contains(where: { $0.name == s.name }) {
        throw GraphProblem(at, "two sparse features are named `\(s.name)`")
      }
      if let t = s.table {
        // The owner of a shared table has one of its own, and the same vocabulary and width.
        guard let o = p.sparse.first(where: { $0.name == t }), t != s.name, o.table == nil else {
          throw GraphProblem(at + ".table", "names no sparse feature with a table of its own (`\(t)`)")
        }
        guard o.vocabulary == s.vocabulary, o.embeddingDim == s.embeddingDim else {
          throw GraphProblem(at + ".table", "differs from `\(t)` in vocabulary or width")
        }
      }
    }
    for (i, l) in p.labels.enumerated() {
      let at = "pipeline.labels[\(i)]"
      if case .threshold(let x) = l.rule, !x.isFinite {
        throw GraphProblem(at + ".rule", "the threshold must be a finite number")
      }
      if case .classes(let cs) = l.rule, !(2...GraphLimits.maxClasses).contains(cs.count) || Set(cs).count != cs.count {
        throw GraphProblem(at + ".rule", "a multiclass label needs 2...\(GraphLimits.maxClasses) distinct classes")
      }
      if let space = l.space {
        switch space.rule {
        case .threshold(let x) where !x.isFinite:
          throw GraphProblem(at + ".space.rule", "the threshold must be a finite number")
        case .threshold, .positive: break
        case .value, .classes, .learnedClasses:
          throw GraphProblem(at + ".space.rule", "a sample space takes `positive` or `threshold`")
        }
      }
      if l.normalize != nil, l.rule != .value {
        throw GraphProblem(at + ".normalize", "only a regression label is normalized")
      }
    }
  }
}

extension Graph {
  /// Per parameter: more than one loss reaches it (backwards from the loss's input), so its
  /// gradient is a sum of several tasks' (what gradient surgery acts on).
  public func sharedParams() -> [Bool] {
    var producer = [Int?](repeating: nil, count: values.count)
    for (i, op) in ops.enumerated() { producer[op.output] = i }
    var reach = [Int](repeating: 0, count: params.count)
    for l in losses {
      var seen = Set<Int>()
      var work = [l.input]
      var reached = Set<Int>()
      while let v = work.popLast() {
        guard seen.insert(v).inserted, let op = producer[v] else { continue }
        reached.formUnion(ops[op].params)
        work += ops[op].inputs
      }
      for p in reached { reach[p] += 1 }
    }
    return reach.map { $0 > 1 }
  }

  /// The last shared layer: the weight matrix of the latest op (in execution order) whose
  /// parameters several losses reach — where GradNorm measures each task's gradient norm
  /// (the expert stack's last layer in MMOE, the shared bottom's last layer in Shared-Bottom).
  public func lastSharedWeight() -> ParamID? {
    let shared = sharedParams()
    for op in ops.reversed() where op.kind == .linear || op.kind == .expertLinear {
      if let w = op.params.first, shared[w] { return w }
    }
    return nil
  }
}
