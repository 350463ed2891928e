import MTLGraph
import MTLIR
import MTLSpec

/// IRModule -> executable Graph. Each block becomes a short run of primitive ops:
///
///     experts (count 1)   linear+act per layer                        [B,I] -> [B,H]
///     experts (count E)   expert_linear+act per layer                 [B,I] -> [E,B,H]
///     gate                linear+act per hidden layer, linear (no bias), softmax, mix -> [B,H]
///     tower               linear+act per layer, linear (bias) to one logit            -> [B,1]
///     task                sigmoid (binary) | the logit (regression) | product of probabilities
public struct Lowering {
  let m: IRModule
  var values: [Value] = []
  var params: [Param] = []
  var ops: [Op] = []
  var byName: [String: ValueID] = [:]
  /// Each tower's representation before its logit (`towers.NAME`), for AITM transfers.
  var hidden: [String: ValueID] = [:]

  public static func lower(_ m: IRModule) -> Graph {
    var l = Lowering(m: m)
    return l.run()
  }

  init(m: IRModule) { self.m = m }

  mutating func value(_ name: String, experts: Int = 1, width: Int, widthFrom: String? = nil) -> ValueID {
    values.append(Value(name: name, experts: experts, width: width, widthFrom: widthFrom))
    byName[name] = values.count - 1
    return values.count - 1
  }

  mutating func param(
    _ name: String, _ shape: [Int], _ kind: ParamKind, _ initializer: Initializer, block: String, l2: Double = 0,
    rowsFrom: String? = nil, colsFrom: String? = nil
  ) -> ParamID {
    params.append(
      Param(
        name: name, shape: shape, kind: kind, initializer: initializer, l2: Float(l2), rowsFrom: rowsFrom,
        colsFrom: colsFrom, block: block)
    )
    return params.count - 1
  }

  mutating func op(
    _ kind: OpKind, _ inputs: [ValueID], _ output: ValueID, params: [ParamID] = [], act: Activation = .none,
    slot: Int? = nil, block: String, loc: String
  ) {
    ops.append(
      Op(
        kind: kind, inputs: inputs, output: output, params: params, activation: act, slot: slot, block: block, loc: loc)
    )
  }

  static func act(_ a: ActivationName) -> Activation {
    switch a {
    case .relu: return .relu
    case .none: return .none
    case .sigmoid: return .sigmoid
    case .tanh: return .tanh
    case .leakyRelu: return .leakyRelu
    case .prelu: return .prelu
    case .gelu: return .gelu
    case .swish, .silu: return .swish
    }
  }

  /// The activation a producer applies in its epilogue: `a` when it can (see `activate`), else none.
  static func fused(_ a: ActivationKind) -> Activation {
    let act = act(a.name)
    return act.fusesIntoProducer && a.slope == nil ? act : .none
  }

  /// A dense layer: w [I,O] Glorot, b [O] zeros (optional), then the activation.
  /// With `widthFrom` (a multiclass task whose classes are learned), `out` is 0 until bound.
  mutating func linear(
    _ x: ValueID, out: Int, act: Activation, bias: Bool, name: String, valueName: String? = nil,
    widthFrom: String? = nil, block: String, loc: String
  ) -> ValueID {
    let i = values[x].width
    let w = param(
      "\(name).w", [i, out], .weight, .glorotUniform(fanIn: i, fanOut: max(out, 1)), block: block,
      l2: m.training.l2Weights, colsFrom: widthFrom)
    var ps = [w]
    if bias { ps.append(param("\(name).b", [out], .bias, .zeros, block: block, colsFrom: widthFrom)) }
    let y = value(valueName ?? name, width: out, widthFrom: widthFrom)
    op(.linear, [x], y, params: ps, act: act, block: block, loc: loc)
    return y
  }

  /// Concatenates references (or passes a single one through).
  mutating func input(_ refs: [BlockRef], for block: String, loc: String) -> ValueID {
    let ids = refs.map { byName[$0.description]! }
    if ids.count == 1 { return ids[0] }
    let y = value("\(block).input", width: ids.reduce(0) { $0 + values[$1].width })
    op(.concat, ids, y, block: block, loc: loc)
    return y
  }

  mutating func run() -> Graph {
    // Features: one embedding lookup per sparse feature (through the table of the feature it
    // shares one with, if any), the dense columns, then a concat.
    var parts: [ValueID] = []
    let loc = m.featuresSpan.location
    var tables: [String: ParamID] = [:]
    for s in m.sparse where s.sharesTable == nil {
      let rows: Int
      var rowsFrom: String?
      switch s.vocabulary {
      case .learned: (rows, rowsFrom) = (0, s.name)
      case .fixed(let vs): rows = vs.count + 1
      case .hashed(let b): rows = b + 1
      }
      tables[s.name] = param(
        "embeddings.\(s.name)", [rows, s.dim], .embedding, .normal(std: 1e-4), block: "embeddings",
        l2: m.training.l2Embeddings, rowsFrom: rowsFrom)
    }
    for (slot, s) in m.sparse.enumerated() {
      let y = value("in.\(s.name)", width: s.dim)
      op(
        .embed, [], y, params: [tables[s.sharesTable ?? s.name]!], slot: slot, block: "embeddings", loc: s.span.location
      )
      parts.append(y)
    }
    if !m.dense.isEmpty {
      let y = value("in.dense", width: m.dense.count)
      op(.denseInput, [], y, block: "features", loc: m.dense[0].span.location)
      parts.append(y)
    }
    if parts.count == 1 {
      byName["features"] = parts[0]
    } else {
      let y = value("features", width: m.featureWidth)
      op(.concat, parts, y, block: "features", loc: loc)
    }

    for b in m.blocks { lowerBlock(b) }

    // Tasks and losses.
    var labels: [LabelColumn] = []
    var tasks: [TaskOutput] = []
    var losses: [Loss] = []
    var prediction: [String: ValueID] = [:]
    for t in m.tasks {
      let block = "tasks.\(t.name)"
      let tl = t.span.location
      let type = TaskType(rawValue: t.type.rawValue)!
      var logit: ValueID?
      let pred: ValueID
      switch t.source {
      case .tower(let n):
        logit = byName["towers.\(n)"]!
        if let kind = type.predictionOp {
          pred = value(block, width: t.outputWidth, widthFrom: t.outputWidth == 0 ? t.name : nil)
          op(kind, [logit!], pred, block: block, loc: tl)
        } else {
          pred = logit!
        }
      case .product(let ms):
        pred = value(block, width: 1)
        op(.product, ms.map { prediction[$0]! }, pred, block: block, loc: tl)
      }
      prediction[t.name] = pred
      var labelIndex: Int?
      var classes: [String]?
      if let l = t.label {
        labelIndex = labels.count
        let rule = Lowering.rule(l.rule)
        if case .classes(let cs) = l.rule { classes = cs }
        if case .learnedClasses = l.rule { classes = [] }
        let o = t.labelOptions
        labels.append(
          LabelColumn(
            task: t.name, column: l.column, rule: rule,
            space: o.space.map { SampleSpace(column: $0.column, rule: Lowering.rule($0.rule)) },
            missing: o.missing == .mask ? .mask : nil, normalize: o.normalize == .standard ? .standard : nil))
        let kind: LossKind = logit != nil ? type.towerLoss : .bceProb
        var loss = Loss(
          task: t.name, kind: kind, input: kind == .bceProb ? pred : logit!, label: labelIndex!,
          weight: Float(t.lossWeight))
        loss.positiveWeight = t.positiveWeight.map(Float.init)
        losses.append(loss)
      }
      tasks.append(
        TaskOutput(name: t.name, type: type, prediction: pred, logit: logit, label: labelIndex, classes: classes))
    }

    var pipeline = Pipeline(
      train: m.data.train, test: m.data.test, testFraction: m.data.testFraction, splitSeed: UInt64(m.data.splitSeed),
      delimiter: m.data.delimiter,
      sparse: m.sparse.map { s in
        let v: Vocabulary
        switch s.vocabulary {
        case .learned(let n, let most): v = .learned(minCount: n, maxSize: most)
        case .fixed(let vs): v = .fixed(vs)
        case .hashed(let b): v = .hashed(buckets: b)
        }
        var f = SparseFeature(name: s.name, column: s.column, vocabulary: v, missing: s.missing, embeddingDim: s.dim)
        f.table = s.sharesTable
        f.multi = s.multi.map {
          MultiValue(
            separator: $0.separator.value, maxLength: $0.maxLength,
            pooling: MultiValue.Pooling(rawValue: $0.pooling.rawValue)!)
        }
        return f
      },
      dense: m.dense.map {
        DenseFeature(
          name: $0.name, column: $0.column, normalize: Normalization(rawValue: $0.normalize.rawValue)!,
          missing: $0.missing)
      },
      labels: labels, onBadRow: BadRowPolicy(rawValue: m.data.onBadRow.rawValue)!)
    pipeline.validation = m.data.validation
    pipeline.columns = m.data.columns
    pipeline.streaming = m.data.streaming
    pipeline.shardRows = m.data.shardRows ?? Pipeline.defaultShardRows
    pipeline.shuffleWindow = m.data.shuffleWindow ?? Pipeline.defaultShuffleWindow
    pipeline.validationFraction = m.data.validation == nil ? m.data.validationFraction : 0
    let tr = m.training
    var training = Training(
      optimizer: OptimizerKind(rawValue: tr.optimizer.rawValue)!, learningRate: Float(tr.learningRate),
      beta1: Float(tr.beta1),
      beta2: Float(tr.beta2), epsilon: Float(tr.epsilon), momentum: Float(tr.momentum),
      initialAccumulator: Float(tr.initialAccumulator), batchSize: tr.batchSize, epochs: tr.epochs,
      seed: UInt64(tr.seed),
      clipNorm: Float(tr.clipNorm), lossBalancing: LossBalancingKind(rawValue: tr.lossBalancing.rawValue),
      gradnormAlpha: tr.lossBalancing == .gradnorm ? Float(tr.gradnormAlpha) : nil)
    if tr.optimizer == .adamw { training.weightDecay = Float(tr.weightDecay) }
    if tr.gradientCosine { training.gradientCosine = true }
    training.schedule = tr.schedule.map {
      LearningRateSchedule(
        warmupSteps: $0.warmupSteps, decay: LearningRateSchedule.Decay(rawValue: $0.decay.rawValue)!,
        decaySteps: $0.decaySteps, decayRate: $0.decayRate, minRate: $0.minRate)
    }
    training.earlyStopping = tr.earlyStopping.map {
      EarlyStopping(monitor: $0.monitor.value, patience: $0.patience, minDelta: $0.minDelta)
    }
    var graph = Graph(
      name: m.name, source: m.specPath, pipeline: pipeline, params: params, values: values, ops: ops, tasks: tasks,
      losses: losses, training: training)
    let calibrations = m.tasks.compactMap { t in
      t.calibration.map {
        Calibration(
          task: t.name, input: prediction[t.name]!, upstream: prediction[$0.upstream]!, weight: Float($0.weight))
      }
    }
    if !calibrations.isEmpty { graph.calibrations = calibrations }
    return graph
  }

  static func rule(_ r: LabelRuleIR) -> LabelRule {
    switch r {
    case .positive(let p): return .positive(p)
    case .threshold(let x): return .threshold(x)
    case .value: return .value
    case .classes(let cs): return .classes(cs)
    case .learnedClasses: return .learnedClasses
    }
  }

  /// Batch normalisation of a hidden layer's product `x` (its activation moved after it): γ
  /// (ones), β (zeros), the running mean (zeros) and variance (ones), [C] each, C = E·W; the output
  /// takes `x`'s name. `x` itself when the block has none.
  mutating func normalize(_ x: ValueID, _ b: Block, layer: String, act: Activation, loc: String) -> ValueID {
    guard b.batchNorm else { return x }
    let v = values[x]
    let name = v.name
    values[x].name = "\(name).pre_norm"
    let C = v.rowWidth
    let block = b.qualifiedName
    let gamma = param("\(layer).bn.gamma", [C], .bias, .ones, block: block)
    let beta = param("\(layer).bn.beta", [C], .bias, .zeros, block: block)
    let mean = param("\(layer).bn.mean", [C], .statistic, .zeros, block: block)
    let variance = param("\(layer).bn.variance", [C], .statistic, .ones, block: block)
    let y = value(name, experts: v.experts, width: v.width)
    values[y].expertNames = v.expertNames
    var o = Op(
      kind: .batchNorm, inputs: [x], output: y, params: [gamma, beta, mean, variance], activation: act, block: block,
      loc: loc)
    o.rate = 0.01  // Keras' momentum 0.99
    ops.append(o)
    return y
  }

  /// The activation of a hidden layer whose producer could not apply it (`fused`), as its own op on
  /// the layer's output `x` (after batch normalisation, before dropout): a new value that takes
  /// `x`'s name. `x` itself when the producer applied it.
  mutating func activate(_ x: ValueID, _ a: ActivationKind, layer: String, block: String, loc: String) -> ValueID {
    let act = Lowering.act(a.name)
    guard Lowering.fused(a) != act else { return x }
    let v = values[x]
    values[x].name = "\(v.name).pre_activation"
    let y = value(v.name, experts: v.experts, width: v.width)
    values[y].expertNames = v.expertNames
    var params: [ParamID] = []
    if act == .prelu {
      params = [param("\(layer).prelu.slope", [v.rowWidth], .bias, .constant(0.25), block: block)]
    }
    var o = Op(kind: .activation, inputs: [x], output: y, params: params, activation: act, block: block, loc: loc)
    o.slope = a.slope.map(Float.init)
    ops.append(o)
    return y
  }

  /// Dropout after a hidden layer's output `x` (the identity when the block has none): a new
  /// value of the same shape, named `name` (the block's output name for its last layer).
  mutating func dropout(_ x: ValueID, _ b: Block, name: String, loc: String) -> ValueID {
    guard b.dropout > 0 else { return x }
    let v = values[x]
    values[x].name = "\(name).pre_dropout"
    let y = value(name, experts: v.experts, width: v.width)
    values[y].expertNames = v.expertNames
    var o = Op(kind: .dropout, inputs: [x], output: y, block: b.qualifiedName, loc: loc)
    o.rate = Float(b.dropout)
    ops.append(o)
    return y
  }

  mutating func lowerBlock(_ b: Block) {
    let name = b.qualifiedName
    let loc = b.span.location
    var x = input(b.inputs, for: name, loc: loc)
    switch b.kind {
    case .experts(let count, let units, let a):
      for (i, u) in units.enumerated() {
        let layer = "\(name).layer\(i)"
        let last = i == units.count - 1
        let act = Lowering.fused(a)
        if count == 1 {
          x = linear(
            x, out: u, act: b.batchNorm ? .none : act, bias: true, name: layer, valueName: last ? name : nil,
            block: name, loc: loc)
          x = normalize(x, b, layer: layer, act: act, loc: loc)
          x = activate(x, a, layer: layer, block: name, loc: loc)
          x = dropout(x, b, name: last ? name : layer, loc: loc)
          if last { byName[name] = x }
          continue
        }
        let inW = values[x].width
        let l2 = m.training.l2Weights
        let y = value(last ? name : layer, experts: count, width: u)
        values[y].expertNames = b.origin.flatMap { o in (0..<o.count).map { "\(o.group)[\($0)]" } }
        if i == 0 {
          // Every expert reads the same [B, I]: one wide product with w [I, E·O] (each expert's
          // [I, O] block Glorot-initialised with its own fans), writing [B, E, O] directly.
          let w = param(
            "\(layer).w", [inW, count * u], .weight, .glorotUniform(fanIn: inW, fanOut: u), block: name, l2: l2)
          let bias = param("\(layer).b", [count * u], .bias, .zeros, block: name)
          op(.linear, [x], y, params: [w, bias], act: b.batchNorm ? .none : act, block: name, loc: loc)
        } else {
          let w = param(
            "\(layer).w", [count, inW, u], .weight, .glorotUniform(fanIn: inW, fanOut: u), block: name, l2: l2)
          let bias = param("\(layer).b", [count, u], .bias, .zeros, block: name)
          op(.expertLinear, [x], y, params: [w, bias], act: b.batchNorm ? .none : act, block: name, loc: loc)
        }
        x = activate(normalize(y, b, layer: layer, act: act, loc: loc), a, layer: layer, block: name, loc: loc)
        x = dropout(x, b, name: last ? name : layer, loc: loc)
        if last { byName[name] = x }
      }
    case .gate(let mixes, let units, let a):
      for (i, u) in units.enumerated() {
        let act = Lowering.fused(a)
        x = linear(
          x, out: u, act: b.batchNorm ? .none : act, bias: true, name: "\(name).layer\(i)", block: name, loc: loc)
        x = normalize(x, b, layer: "\(name).layer\(i)", act: act, loc: loc)
        x = activate(x, a, layer: "\(name).layer\(i)", block: name, loc: loc)
        x = dropout(x, b, name: "\(name).layer\(i)", loc: loc)
      }
      let logits = linear(x, out: b.mixed, act: .none, bias: b.gateBias, name: "\(name).logits", block: name, loc: loc)
      let weights = value("\(name).weights", width: b.mixed)
      op(.softmax, [logits], weights, block: name, loc: loc)
      let y = value(name, width: b.outWidth)
      var inputs = [weights]
      var refs: [MixRef] = []
      for s in mixes {
        let v = byName["experts.\(s.group)"]!
        if !inputs.dropFirst().contains(v) { inputs.append(v) }
        let position = inputs.firstIndex(of: v)!
        for e in s.start..<(s.start + s.count) { refs.append(MixRef(input: position, expert: e)) }
      }
      ops.append(Op(kind: .mix, inputs: inputs, output: y, mix: refs, block: name, loc: loc))
    case .tower(let units, let a):
      for (i, u) in units.enumerated() {
        let act = Lowering.fused(a)
        x = linear(
          x, out: u, act: b.batchNorm ? .none : act, bias: true, name: "\(name).layer\(i)", block: name, loc: loc)
        x = normalize(x, b, layer: "\(name).layer\(i)", act: act, loc: loc)
        x = activate(x, a, layer: "\(name).layer\(i)", block: name, loc: loc)
        x = dropout(x, b, name: "\(name).layer\(i)", loc: loc)
      }
      // The tower's representation before its logit: what a downstream AITM tower transfers.
      hidden[name] = x
      if let tr = b.transfer { x = attentionTransfer(x, from: hidden["towers.\(tr.fromTower)"]!, tr, name, loc) }
      // One logit, or K for a multiclass task's tower.
      let logit = linear(
        x, out: b.outWidth, act: .none, bias: true, name: "\(name).logit", widthFrom: b.outWidthFrom, block: name,
        loc: loc)
      byName[name] = logit
    }
  }

  /// AITM's adaptive information transfer (Xi et al., KDD 2021, §3.2): the upstream tower's
  /// representation `upstream` becomes p = relu(upstream·W + b) (the information layer, as wide as
  /// `q`); then the attention unit weighs the two candidates u ∈ {p, q} with the same three
  /// projections h1, h2, h3 ([H, K] each, no bias): w_u = softmax_u(⟨h1(u), h2(u)⟩ / √K), and
  /// returns z = Σ_u w_u·h3(u) [B, K], which the tower's logit reads instead of q.
  mutating func attentionTransfer(
    _ q: ValueID, from upstream: ValueID, _ tr: Block.Transfer, _ name: String, _ loc: String
  )
    -> ValueID
  {
    let h = values[q].width
    let k = tr.units
    let p = linear(
      upstream, out: h, act: .relu, bias: true, name: "\(name).transfer", block: name, loc: loc)
    let l2 = m.training.l2Weights
    let w = (1...3).map {
      param("\(name).ait.h\($0)", [h, k], .weight, .glorotUniform(fanIn: h, fanOut: k), block: name, l2: l2)
    }
    var scores: [ValueID] = []
    var projected: [ValueID] = []
    for (u, label) in [(p, "transferred"), (q, "own")] {
      let hs = (0..<3).map { j in
        let y = value("\(name).ait.\(label).h\(j + 1)", width: k)
        op(.linear, [u], y, params: [w[j]], block: name, loc: loc)
        return y
      }
      let s = value("\(name).ait.\(label).score", width: 1)
      var o = Op(kind: .dot, inputs: [hs[0], hs[1]], output: s, block: name, loc: loc)
      o.scale = 1 / Float(k).squareRoot()
      ops.append(o)
      scores.append(s)
      projected.append(hs[2])
    }
    let logits = value("\(name).ait.scores", width: 2)
    op(.concat, scores, logits, block: name, loc: loc)
    let weights = value("\(name).ait.weights", width: 2)
    op(.softmax, [logits], weights, block: name, loc: loc)
    let z = value("\(name).ait", width: k)
    ops.append(
      Op(
        kind: .mix, inputs: [weights] + projected, output: z,
        mix: [MixRef(input: 1, expert: 0), MixRef(input: 2, expert: 0)], block: name, loc: loc))
    return z
  }
}
