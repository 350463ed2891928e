import MTLDiagnostics
import MTLSpec
import MTLSupport

/// What the validator learns about a data file, supplied by the caller (the validator reads no
/// files itself, so it stays testable and independent of the CSV reader).
public enum DataHeader: Sendable {
  case columns([String])
  case unreadable(String)
}

/// The values of one column of a data file, as `validate` sees them: each distinct cell and how
/// many rows hold it (nil from the reader when the file cannot be read or has too many distinct
/// values to be worth checking).
public struct ColumnValues: Sendable {
  public var rows: Int
  public var counts: [String: Int]
  public init(rows: Int, counts: [String: Int]) {
    self.rows = rows
    self.counts = counts
  }
}

/// Spec -> IRModule. Resolves references, finds cycles, infers every width and checks the task
/// graph. Reports every error of the stage at once; returns no module if there was any.
public struct Validator {
  public var spec: Spec
  /// Reads the header of a data file (path already resolved). nil: skip data checks.
  public var header: ((String) -> DataHeader)?
  /// Reads one column of a data file (path resolved, column name): for the label checks.
  public var column: ((String, String) -> ColumnValues?)?
  var diags = Diagnostics()
  /// Multiclass tasks without `label.classes`: the distinct values of their label column in the
  /// training file (read by `checkLabel`).
  var dataClasses: [String: [String]] = [:]

  public init(
    spec: Spec, header: ((String) -> DataHeader)? = nil, column: ((String, String) -> ColumnValues?)? = nil
  ) {
    self.spec = spec
    self.header = header
    self.column = column
  }

  public static func validate(
    _ spec: Spec, header: ((String) -> DataHeader)? = nil, column: ((String, String) -> ColumnValues?)? = nil
  ) -> (IRModule?, Diagnostics) {
    var v = Validator(spec: spec, header: header, column: column)
    let m = v.run()
    return (m, v.diags)
  }

  /// A block as declared, before widths are known.
  struct Decl {
    var ref: BlockRef
    var inputs: [(BlockRef, Span)]
    var groups: [(String, Span)]  // gates only
    var span: Span
    /// Blocks it reads besides its inputs: the upstream tower of an AITM transfer.
    var after: [(BlockRef, Span)] = []
  }

  mutating func run() -> IRModule? {
    let data = resolveData()
    var sparse: [SparseInput] = []
    var dense: [DenseInput] = []
    for f in spec.features {
      switch f.kind {
      case .sparse:
        var s = SparseInput(
          name: f.name.value, column: f.column.value, vocabulary: f.vocabulary, missing: f.missing,
          dim: f.embeddingDim, span: f.span)
        s.multi = f.multi
        if let owner = f.sharesTable, let o = sharedTableOwner(f, owner) {
          s.sharesTable = o.name.value
          s.vocabulary = o.vocabulary
          s.dim = o.embeddingDim
        }
        sparse.append(s)
      case .dense:
        dense.append(
          DenseInput(
            name: f.name.value, column: f.column.value, normalize: f.normalize, missing: f.missing, span: f.span))
      }
    }

    // 1. Resolve every reference.
    var decls: [BlockRef: Decl] = [:]
    var order: [BlockRef] = []
    let expertNames = spec.experts.map(\.name.value)
    let gateNames = spec.gates.map(\.name.value)
    for e in spec.experts {
      let d = Decl(
        ref: .experts(e.name.value), inputs: resolve(e.input, in: "expert group `\(e.name.value)`"), groups: [],
        span: e.span)
      decls[d.ref] = d
      order.append(d.ref)
    }
    for g in spec.gates {
      var groups: [(String, Span)] = []
      var seen = Set<String>()
      for x in g.experts {
        if !expertNames.contains(x.value) {
          diags.error(
            .unknownReference, "unknown expert group `\(x.value)` in gate `\(g.name.value)`", at: x.span,
            label: "not defined under `experts:`",
            help: Suggest.help(for: x.value, among: expertNames, what: "group"))
        } else if !seen.insert(x.value).inserted {
          diags.error(.duplicateName, "gate `\(g.name.value)` mixes expert group `\(x.value)` twice", at: x.span)
        } else {
          groups.append((x.value, x.span))
        }
      }
      let d = Decl(
        ref: .gate(g.name.value), inputs: resolve(g.input, in: "gate `\(g.name.value)`"), groups: groups, span: g.span)
      decls[d.ref] = d
      order.append(d.ref)
    }
    for t in spec.towers {
      var d = Decl(
        ref: .tower(t.name.value), inputs: resolve(t.input, in: "tower `\(t.name.value)`"), groups: [], span: t.span)
      if let tr = t.transfer, let from = transferSource(t, tr) { d.after = [(.tower(from), tr.from.span)] }
      decls[d.ref] = d
      order.append(d.ref)
    }
    _ = gateNames

    // 2. Cycles, and an order where inputs come first.
    let sorted = topologicalOrder(order, decls)

    // 3. Widths, in that order.
    var blocks: [Block] = []
    var shapes: [BlockRef: (Int, Int)] = [
      .features: (1, sparse.reduce(0) { $0 + $1.dim } + dense.count)
    ]
    if let sorted {
      for ref in sorted {
        if let b = infer(decls[ref]!, &shapes) { blocks.append(b) }
      }
    }

    // 4. Tasks.
    var tasks = validateTasks()

    // 5. Blocks no task uses.
    if !diags.hasErrors { warnUnused(blocks, tasks, decls) }

    // 6. The spec against its data.
    checkData(data, sparse: sparse, dense: dense)

    // 7. Multiclass tasks: their classes (fixed, or read from the data), and their towers' width.
    bindClasses(&tasks, &blocks)

    guard !diags.hasErrors, sorted != nil else { return nil }
    return IRModule(
      name: spec.name, specPath: spec.path, data: data, sparse: sparse, dense: dense, blocks: blocks, tasks: tasks,
      training: spec.training, featuresSpan: spec.featuresSpan)
  }

  // MARK: AITM funnels

  /// Task `t`'s calibration (`calibration: W`) against the task its tower transfers from, or nil
  /// after reporting why there is none: both binary, a transfer on the tower, and a loss balancing
  /// that weighs the summed gradient (`none`, `uncertainty`).
  mutating func calibration(_ t: TaskDecl, _ w: Located<Double>) -> (upstream: String, weight: Double)? {
    let what = "task `\(t.name.value)`"
    let towerName = t.tower?.value ?? t.name.value
    guard t.product == nil, let tower = spec.towers.first(where: { $0.name.value == towerName }),
      let tr = tower.transfer
    else {
      diags.error(
        .funnel,
        "`calibration` of \(what) keeps it below the task before it in a funnel, but its tower transfers from none",
        at: w.span, help: "give tower `\(towerName)` a `transfer: {from: TASK}`, or remove `calibration`")
      return nil
    }
    guard let up = spec.tasks.first(where: { $0.name.value == tr.from.value }) else { return nil }
    guard t.type.value == .binary, up.type.value == .binary else {
      diags.error(
        .funnel,
        "`calibration` compares probabilities: \(what) is `\(t.type.value.rawValue)` and `\(up.name.value)` is `\(up.type.value.rawValue)`",
        at: w.span, help: "calibrate binary tasks only")
      return nil
    }
    guard [.none, .uncertainty].contains(spec.training.lossBalancing) else {
      diags.error(
        .conflictingKeys,
        "`calibration` of \(what) is not a task loss, and `loss_balancing: \(spec.training.lossBalancing.rawValue)` balances task losses one by one",
        at: w.span, help: "use `loss_balancing: none` or `uncertainty` with a calibration")
      return nil
    }
    return (up.name.value, w.value)
  }

  /// The tower of the task tower `t` transfers from (`transfer.from`), or nil after reporting why
  /// it cannot: the task must exist, be another task, and have a tower. Cycles are reported with
  /// the blocks' (a transfer is a dependency of the tower).
  mutating func transferSource(_ t: TowerDecl, _ tr: TransferDecl) -> String? {
    let what = "tower `\(t.name.value)`"
    guard let task = spec.tasks.first(where: { $0.name.value == tr.from.value }) else {
      diags.error(
        .unknownReference, "\(what) transfers from task `\(tr.from.value)`, which is not defined", at: tr.from.span,
        help: Suggest.help(for: tr.from.value, among: spec.tasks.map(\.name.value), what: "task"))
      return nil
    }
    guard task.product == nil else {
      diags.error(
        .funnel, "\(what) transfers from task `\(task.name.value)`, which has no tower (it is a product)",
        at: tr.from.span, help: "transfer from a task with a tower of its own")
      return nil
    }
    let tower = task.tower?.value ?? task.name.value
    guard tower != t.name.value else {
      diags.error(
        .funnel, "\(what) transfers from its own task", at: tr.from.span,
        help: "name the task before this one in the funnel, e.g. the click for a conversion")
      return nil
    }
    guard spec.towers.contains(where: { $0.name.value == tower }) else { return nil }  // reported with the task
    return tower
  }

  // MARK: shared embedding tables

  /// The feature whose table sparse feature `f` reads through (`embedding: owner`), or nil after
  /// reporting why it cannot: the owner must be another sparse feature with a table of its own, and
  /// a width written on `f` must be the owner's.
  mutating func sharedTableOwner(_ f: FeatureDecl, _ owner: Located<String>) -> FeatureDecl? {
    let what = "feature `\(f.name.value)`"
    guard let o = spec.features.first(where: { $0.name.value == owner.value }) else {
      let names = spec.features.filter { $0.kind == .sparse && $0.name.value != f.name.value }.map(\.name.value)
      diags.error(
        .unknownReference, "\(what) reads through the embedding table of `\(owner.value)`, which is no feature",
        at: owner.span,
        help: Suggest.closest(to: owner.value, among: names).map { "did you mean `\($0)`?" }
          ?? "name a sparse feature of this spec")
      return nil
    }
    guard o.name.value != f.name.value else {
      diags.error(
        .sharedEmbedding, "\(what) names itself in `embedding`", at: owner.span,
        help: "a feature has its own table unless `embedding` names another sparse feature")
      return nil
    }
    guard o.kind == .sparse else {
      diags.error(
        .sharedEmbedding, "\(what) reads through the embedding table of `\(o.name.value)`, which is a dense feature",
        at: owner.span, help: "name a sparse feature")
      return nil
    }
    if let next = o.sharesTable {
      diags.error(
        .sharedEmbedding,
        "\(what) reads through `\(o.name.value)`, which itself reads through `\(next.value)`'s table",
        at: owner.span, help: "write `embedding: \(next.value)`: the feature that owns the table")
      return nil
    }
    if f.embeddingDim != 0 && f.embeddingDim != o.embeddingDim {
      diags.error(
        .sharedEmbedding,
        "\(what) is \(f.embeddingDim) wide, but the table of `\(o.name.value)` it reads through is \(o.embeddingDim) wide",
        at: f.embeddingDimSpan ?? owner.span,
        help: "remove `embedding_dim` (it is the table's), or make both \(o.embeddingDim)",
        notes: ["`\(o.name.value)` is defined at \(o.name.span.location)"])
      return nil
    }
    return o
  }

  // MARK: data source

  func resolveData() -> DataSource {
    let d = spec.data
    // Relative to the file the path is written in: the spec, or a file a section was included from.
    func resolve(_ p: Located<String>) -> String {
      Validator.resolve(p.value, relativeTo: spec.includes.contains(p.span.file) ? p.span.file : spec.path)
    }
    var source = DataSource(
      train: resolve(d.train), test: d.test.map(resolve), testFraction: d.testFraction,
      splitSeed: d.splitSeed ?? spec.training.seed, delimiter: d.delimiter, onBadRow: d.onBadRow)
    source.validation = d.validation.map(resolve)
    source.validationFraction = d.validationFraction
    source.columns = d.columns?.value
    (source.streaming, source.shardRows, source.shuffleWindow) = (d.streaming, d.shardRows, d.shuffleWindow)
    return source
  }

  /// `path` resolved against the folder of `specPath`, normalised lexically.
  public static func resolve(_ path: String, relativeTo specPath: String) -> String {
    Paths.resolve(path, against: Paths.directory(of: specPath))
  }

  // MARK: references

  mutating func resolve(_ refs: [Reference], in what: String) -> [(BlockRef, Span)] {
    var out: [(BlockRef, Span)] = []
    let experts = spec.experts.map(\.name.value)
    let gates = spec.gates.map(\.name.value)
    for r in refs {
      let text = r.text
      if text == "features" {
        out.append((.features, r.span))
        continue
      }
      let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
      if parts.count == 2, parts[0] == "experts" || parts[0] == "gates" {
        let names = parts[0] == "experts" ? experts : gates
        if names.contains(parts[1]) {
          out.append((parts[0] == "experts" ? .experts(parts[1]) : .gate(parts[1]), r.span))
        } else {
          let kind = parts[0] == "experts" ? "expert group" : "gate"
          diags.error(
            .unknownReference, "unknown \(kind) `\(parts[1])` in the input of \(what)", at: r.span,
            label: "not defined under `\(parts[0]):`",
            help: Suggest.help(for: parts[1], among: names, what: kind == "gate" ? "gate" : "group"))
        }
        continue
      }
      // Not of the form `section.name`: suggest the qualified form when the name exists.
      var help = "inputs are `features`, `experts.NAME` or `gates.NAME`"
      if experts.contains(text) { help = "did you mean `experts.\(text)`?" }
      if gates.contains(text) { help = "did you mean `gates.\(text)`?" }
      if parts.count == 2, parts[0] == "towers" {
        help = "a tower's output is its task's logit and cannot feed another block; read a gate or expert group"
      } else if parts.count == 2, let s = Suggest.closest(to: parts[0], among: ["experts", "gates"]) {
        help = "did you mean `\(s).\(parts[1])`?"
      } else if let s = Suggest.closest(to: text, among: ["features"]) {
        help = "did you mean `\(s)`?"
      }
      diags.error(.unknownReference, "unknown input `\(text)` of \(what)", at: r.span, help: help)
    }
    return out
  }

  // MARK: cycles and order

  /// Depth-first order over declaration order; reports every cycle with its whole path.
  mutating func topologicalOrder(_ order: [BlockRef], _ decls: [BlockRef: Decl]) -> [BlockRef]? {
    var walk = Walk()
    for ref in order where walk.marks[ref] == nil { visit(ref, decls, &walk) }
    return walk.failed ? nil : walk.out
  }

  struct Walk {
    enum Mark { case visiting, done }
    var marks: [BlockRef: Mark] = [:]
    var out: [BlockRef] = []
    var stack: [BlockRef] = []
    var reported = Set<[String]>()
    var failed = false
  }

  mutating func visit(_ ref: BlockRef, _ decls: [BlockRef: Decl], _ w: inout Walk) {
    guard let d = decls[ref] else { return }
    w.marks[ref] = .visiting
    w.stack.append(ref)
    let deps = d.inputs.filter { $0.0 != .features } + d.groups.map { (BlockRef.experts($0.0), $0.1) } + d.after
    for (dep, span) in deps {
      switch w.marks[dep] {
      case .visiting:
        let start = w.stack.lastIndex(of: dep)!
        let cycle = Array(w.stack[start...]).map(\.description)
        if w.reported.insert(canonical(cycle)).inserted {
          let path = (cycle + [dep.description]).map { "`\($0)`" }.joined(separator: " -> ")
          diags.error(
            .cycle, "dependency cycle: \(path)", at: span, label: "`\(dep)` is read here",
            help: "blocks must form a DAG; break the cycle by reading `features` or an earlier block")
        }
        w.failed = true
      case .done: break
      case nil: visit(dep, decls, &w)
      }
    }
    w.stack.removeLast()
    w.marks[ref] = .done
    w.out.append(ref)
  }

  /// A cycle's members rotated to start at the smallest, so each cycle is reported once.
  func canonical(_ c: [String]) -> [String] {
    guard let i = c.indices.min(by: { c[$0] < c[$1] }) else { return c }
    return Array(c[i...] + c[..<i])
  }

  // MARK: widths

  mutating func infer(_ d: Decl, _ shapes: inout [BlockRef: (Int, Int)]) -> Block? {
    var width = 0
    var ok = true
    for (ref, span) in d.inputs {
      guard let (e, w) = shapes[ref] else {
        ok = false
        continue
      }
      if e > 1 {
        diags.error(
          .stackedInput, "`\(ref)` holds \(e) experts and cannot be read directly by `\(d.ref)`", at: span,
          label: "output is [B,\(e),\(w)]",
          help: "mix it through a gate (`gates:`), or give the group `count: 1`")
        ok = false
      }
      width += w
    }
    switch d.ref {
    case .experts(let name):
      let e = spec.experts.first { $0.name.value == name }!
      let out = (e.count.value, e.units.value.last!)
      shapes[d.ref] = out
      guard ok else { return nil }
      var block = Block(
        kind: .experts(count: e.count.value, units: e.units.value, activation: e.activation), name: name,
        inputs: d.inputs.map(\.0), inputWidth: width, outExperts: out.0, outWidth: out.1, mixed: 0, span: d.span)
      block.origin = [ExpertOrigin(group: name, count: e.count.value)]
      block.dropout = e.dropout
      block.batchNorm = e.batchNorm
      return block
    case .gate(let name):
      let g = spec.gates.first { $0.name.value == name }!
      var k = 0
      var widths: [(String, Int, Span)] = []
      for (group, span) in d.groups {
        guard let (e, w) = shapes[.experts(group)] else { continue }
        k += e
        widths.append((group, w, span))
      }
      if let first = widths.first, let bad = widths.first(where: { $0.1 != first.1 }) {
        let list = widths.map { "`\($0.0)` [\($0.1)]" }.joined(separator: ", ")
        diags.error(
          .gateWidthMismatch, "gate `\(name)` mixes expert groups of different widths: \(list)", at: bad.2,
          label: "width \(bad.1), but `\(first.0)` has width \(first.1)",
          help: "make the last entry of `units` the same in every group a gate mixes")
        ok = false
      }
      let h = widths.first?.1 ?? 0
      shapes[d.ref] = (1, h)
      guard ok, !widths.isEmpty else { return nil }
      let mixes = d.groups.map { ExpertSlice(group: $0.0, start: 0, count: shapes[.experts($0.0)]!.0) }
      var block = Block(
        kind: .gate(mixes: mixes, units: g.units, activation: g.activation), name: name,
        inputs: d.inputs.map(\.0), inputWidth: width, outExperts: 1, outWidth: h, mixed: k, span: d.span)
      block.dropout = g.dropout
      block.batchNorm = g.batchNorm
      block.gateBias = g.bias
      return block
    case .tower(let name):
      let t = spec.towers.first { $0.name.value == name }!
      shapes[d.ref] = (1, 1)
      guard ok else { return nil }
      var block = Block(
        kind: .tower(units: t.units.value, activation: t.activation), name: name, inputs: d.inputs.map(\.0),
        inputWidth: width, outExperts: 1, outWidth: 1, mixed: 0, span: d.span)
      block.dropout = t.dropout
      block.batchNorm = t.batchNorm
      if let tr = t.transfer, let (fromTower, _) = d.after.first.map({ ($0.0, $0.1) }),
        case .tower(let fromName) = fromTower
      {
        let own = t.units.value.last ?? width
        block.transfer = Block.Transfer(fromTask: tr.from.value, fromTower: fromName, units: tr.units ?? own)
      }
      return block
    case .features:
      return nil
    }
  }

  // MARK: tasks

  mutating func validateTasks() -> [TaskIR] {
    let towerNames = spec.towers.map(\.name.value)
    let taskNames = spec.tasks.map(\.name.value)
    var out: [TaskIR] = []
    var towerUser: [String: String] = [:]
    var unknownMember = false
    for t in spec.tasks {
      let name = t.name.value
      var source: TaskIR.Source?
      if let p = t.product {
        if let tw = t.tower {
          diags.error(
            .towerAndOutput, "task `\(name)` has both a `tower` and an `output`", at: tw.span,
            help: "a product task takes its prediction from `output.product`; remove `tower`")
        }
        if t.type.value != .binary {
          diags.error(
            .productNotBinary, "task `\(name)` is a product of probabilities, so it must be `binary`", at: t.type.span,
            help: "change `type` to `binary`")
        }
        var members: [String] = []
        for m in p.value {
          guard let other = spec.tasks.first(where: { $0.name.value == m.value }) else {
            unknownMember = true
            diags.error(
              .unknownReference, "unknown task `\(m.value)` in the product of task `\(name)`", at: m.span,
              label: "not defined under `tasks:`", help: Suggest.help(for: m.value, among: taskNames, what: "task"))
            continue
          }
          if other.type.value != .binary {
            diags.error(
              .productNotBinary,
              "task `\(m.value)` is `\(other.type.value.rawValue)`; a product multiplies binary tasks' probabilities",
              at: m.span, help: "only binary tasks can be multiplied")
          }
          members.append(m.value)
        }
        source = .product(members)
      } else {
        let towerName = t.tower?.value ?? name
        if towerNames.contains(towerName) {
          source = .tower(towerName)
          if let other = towerUser[towerName] {
            diags.error(
              .towerShared, "tower `\(towerName)` is used by tasks `\(other)` and `\(name)`",
              at: t.tower?.span ?? t.span,
              help: "give each task a tower of its own")
          }
          towerUser[towerName] = name
        } else if let tw = t.tower {
          diags.error(
            .unknownReference, "unknown tower `\(tw.value)` for task `\(name)`", at: tw.span,
            label: "not defined under `towers:`", help: Suggest.help(for: tw.value, among: towerNames, what: "tower"))
        } else {
          diags.error(
            .taskWithoutOutput, "task `\(name)` has no tower and no output", at: t.span,
            help:
              "add a tower named `\(name)` under `towers:`, name one with `tower:`, or give `output: {product: [...]}`")
        }
      }
      var label: (String, LabelRuleIR)?
      var options = LabelOptions()
      if let l = t.label {
        switch (t.type.value, l.positive, l.threshold) {
        case (.binary, let p?, _): label = (l.column.value, .positive(p.map(\.value)))
        case (.binary, nil, let th?): label = (l.column.value, .threshold(th))
        case (.binary, nil, nil):
          diags.error(
            .labelRule, "the label of binary task `\(name)` needs a rule", at: l.span,
            help: "add `positive: [values]` (the values that mean 1) or `threshold: number`")
        case (.regression, nil, nil): label = (l.column.value, .value)
        case (.regression, _, _):
          diags.error(
            .labelRule,
            "regression task `\(name)` learns the number itself; `positive` and `threshold` make binary labels",
            at: l.span, help: "remove the rule, or make the task `type: binary`")
        case (.multiclass, nil, nil):
          label = (l.column.value, l.classes.map { .classes($0.value.map(\.value)) } ?? .learnedClasses)
        case (.multiclass, _, _):
          diags.error(
            .labelRule,
            "multiclass task `\(name)` learns the class itself; `positive` and `threshold` make binary labels",
            at: l.span, help: "remove the rule (list the classes with `classes: [...]` if you want them fixed)")
        }
        if let c = l.classes, t.type.value != .multiclass {
          diags.error(
            .labelRule, "`classes` is for multiclass tasks; task `\(name)` is \(t.type.value.rawValue)", at: c.span,
            help: "remove `classes`, or make the task `type: multiclass`")
        }
        if let n = l.normalize, n.value == .standard, t.type.value != .regression {
          diags.error(
            .labelRule,
            "`normalize` scales a regression label; task `\(name)` is \(t.type.value.rawValue)", at: n.span,
            help: "remove `normalize`")
        }
        options.missing = l.missing?.value ?? .error
        options.normalize = l.normalize?.value ?? .none
      }
      if let w = t.where {
        if t.label == nil {
          diags.error(
            .labelRule, "task `\(name)` has `where` but no label: there is no loss to restrict", at: w.span,
            help: "give the task a `label`, or remove `where`")
        }
        if let p = w.positive {
          options.space = (w.column.value, .positive(p.map(\.value)))
        } else if let th = w.threshold {
          options.space = (w.column.value, .threshold(th))
        }
      }
      if let source {
        var ir = TaskIR(
          name: name, type: t.type.value, label: label.map { (column: $0.0, rule: $0.1) }, lossWeight: t.lossWeight,
          source: source, span: t.span)
        ir.labelOptions = options
        if let c = t.calibration { ir.calibration = calibration(t, c) }
        if let pw = t.positiveWeight {
          if t.type.value != .binary || t.label == nil {
            diags.error(
              .labelRule,
              "`positive_weight` weighs the positive rows of a binary label; task `\(name)` is \(t.label == nil ? "unlabelled" : t.type.value.rawValue)",
              at: pw.span, help: "remove `positive_weight`")
          } else {
            ir.positiveWeight = pw.value
          }
        }
        out.append(ir)
      }
    }
    checkProductCycles()
    checkEarlyStopping(out)
    // A task with no label learns only through the labelled product tasks that use it.
    var trained = Set(spec.tasks.filter { $0.label != nil }.map(\.name.value))
    var changed = true
    while changed {
      changed = false
      for t in spec.tasks where trained.contains(t.name.value) {
        for m in t.product?.value ?? [] where trained.insert(m.value).inserted { changed = true }
      }
    }
    if !spec.tasks.contains(where: { $0.label != nil }) {
      diags.error(
        .noLabelledTask, "no task has a label, so nothing can be trained",
        at: spec.tasks.first?.span ?? spec.featuresSpan,
        help: "give at least one task `label: {column: ..., positive: [...]}`")
    } else if !unknownMember {
      // (With a misspelt product member, whether a task is trained is unknowable: say nothing.)
      for t in spec.tasks where !trained.contains(t.name.value) {
        diags.error(
          .unlearnableTask, "task `\(t.name.value)` has no label and no labelled task uses it", at: t.span,
          help: "add a `label`, or use it in another task's `output: {product: [...]}`")
      }
    }
    return out
  }

  /// `training.early_stopping.monitor`: `loss`, or `TASK.METRIC` for a labelled task and a metric
  /// of its type (the direction follows the metric).
  mutating func checkEarlyStopping(_ tasks: [TaskIR]) {
    guard let e = spec.training.earlyStopping else { return }
    let text = e.monitor.value
    guard text != "loss" else { return }
    let labelled = tasks.filter { $0.label != nil }
    guard let dot = text.lastIndex(of: ".") else {
      diags.error(
        .invalidValue, "`monitor` is `\(text)`; it is `loss` or `TASK.METRIC`", at: e.monitor.span,
        help: labelled.first.map { "e.g. `loss`, or `\($0.name).\(metricNames($0.type)[0])`" })
      return
    }
    let name = String(text[..<dot])
    let metric = String(text[text.index(after: dot)...])
    guard let task = labelled.first(where: { $0.name == name }) else {
      diags.error(
        .unknownReference, "`monitor` names task `\(name)`, which is not a labelled task", at: e.monitor.span,
        help: Suggest.help(for: name, among: labelled.map(\.name), what: "labelled task"))
      return
    }
    let allowed = metricNames(task.type)
    if !allowed.contains(metric) {
      diags.error(
        .invalidValue, "`\(metric)` is not a metric of \(task.type.rawValue) task `\(name)`", at: e.monitor.span,
        help: "monitor one of " + allowed.map { "`\(name).\($0)`" }.joined(separator: ", "))
    }
  }

  func metricNames(_ type: TaskKind) -> [String] {
    switch type {
    case .binary: return ["auc", "logloss", "loss"]
    case .regression: return ["mse", "mae", "loss"]
    case .multiclass: return ["accuracy", "auc", "logloss", "loss"]
    }
  }

  mutating func checkProductCycles() {
    var marks: [String: Int] = [:]
    var stack: [String] = []
    var reported = Set<[String]>()
    let byName = Dictionary(spec.tasks.map { ($0.name.value, $0) }, uniquingKeysWith: { a, _ in a })
    func visit(_ n: String, _ v: inout Validator) {
      marks[n] = 1
      stack.append(n)
      for m in byName[n]?.product?.value ?? [] where byName[m.value] != nil {
        if marks[m.value] == 1 {
          let cycle = Array(stack[stack.lastIndex(of: m.value)!...])
          if reported.insert(v.canonical(cycle)).inserted {
            let path = (cycle + [m.value]).map { "`tasks.\($0)`" }.joined(separator: " -> ")
            v.diags.error(
              .cycle, "dependency cycle: \(path)", at: m.span, label: "`\(m.value)` is used here",
              help: "a task's output cannot depend on itself")
          }
        } else if marks[m.value] == nil {
          visit(m.value, &v)
        }
      }
      stack.removeLast()
      marks[n] = 2
    }
    for t in spec.tasks where marks[t.name.value] == nil { visit(t.name.value, &self) }
  }

  // MARK: unused blocks

  mutating func warnUnused(_ blocks: [Block], _ tasks: [TaskIR], _ decls: [BlockRef: Decl]) {
    var used = Set<BlockRef>()
    var work: [BlockRef] = tasks.compactMap {
      if case .tower(let n) = $0.source { return .tower(n) } else { return nil }
    }
    while let r = work.popLast() {
      guard used.insert(r).inserted, let d = decls[r] else { continue }
      work += d.inputs.map(\.0).filter { $0 != .features } + d.groups.map { .experts($0.0) }
    }
    for b in blocks where !used.contains(b.ref) {
      diags.add(
        Diagnostic(
          .unusedBlock, "`\(b.qualifiedName)` is not used by any task", at: b.span,
          help: "remove it, or read it from a gate or tower; it will not be compiled"))
    }
  }

  // MARK: data

  mutating func checkData(_ data: DataSource, sparse: [SparseInput], dense: [DenseInput]) {
    // Leakage: a label column that is also read as a feature.
    let featureColumns = spec.features.map { ($0.column.value, $0.name.value, $0.column.span) }
    for t in spec.tasks {
      guard let l = t.label else { continue }
      if let f = featureColumns.first(where: { $0.0 == l.column.value }) {
        diags.error(
          .labelIsFeature,
          "label column `\(l.column.value)` of task `\(t.name.value)` is also read by feature `\(f.1)`",
          at: l.column.span, label: "the label leaks into the inputs",
          help: "remove feature `\(f.1)`, or label the task from another column",
          notes: ["feature `\(f.1)` reads it at \(f.2.location)"])
      }
    }
    guard let header else { return }
    // Messages name the path as written in the spec; the note gives what it resolved to.
    var files: [(String, Located<String>)] = [(data.train, spec.data.train)]
    if let test = data.test, let written = spec.data.test { files.append((test, written)) }
    if let v = data.validation, let written = spec.data.validation { files.append((v, written)) }
    for (resolved, written) in files {
      let path = written.value
      let pathSpan = written.span
      switch header(resolved) {
      case .unreadable(let why):
        diags.add(
          Diagnostic(
            .dataUnreadable, "cannot read data file `\(path)` (\(why))", at: pathSpan,
            help: "paths are relative to the spec's folder; `--no-data` skips the checks that read data",
            notes: ["`\(path)` resolves to `\(resolved)`"]))
      case .columns(let columns):
        let set = Set(columns)
        var needed: [(String, Span, String)] = featureColumns.map { ($0.0, $0.2, "feature `\($0.1)`") }
        for t in spec.tasks {
          if let l = t.label { needed.append((l.column.value, l.column.span, "task `\(t.name.value)`")) }
          if let w = t.where { needed.append((w.column.value, w.column.span, "`where` of task `\(t.name.value)`")) }
        }
        for (col, span, who) in needed where !set.contains(col) {
          diags.error(
            .missingColumn, "column `\(col)` of \(who) is not in the header of `\(path)`", at: span,
            help: Suggest.closest(to: col, among: columns).map { "did you mean `\($0)`?" }
              ?? "the file's columns: " + columns.prefix(20).map { "`\($0)`" }.joined(separator: ", "))
        }
        // Label rules against what the training file holds.
        if resolved == data.train {
          for t in spec.tasks {
            if let l = t.label, set.contains(l.column.value) { checkLabel(t, l, file: resolved, written: path) }
          }
        }
      }
    }
  }

  /// A `positive:` value the label column never holds is an error (a typo trains a task whose
  /// labels are all 0); a label that takes one value on every training row is a warning.
  mutating func checkLabel(_ t: TaskDecl, _ l: LabelDecl, file: String, written: String) {
    guard let column, let values = column(file, l.column.value), values.rows > 0 else { return }
    let name = t.name.value
    let seen = values.counts.keys.sorted { (values.counts[$0]!, $1) > (values.counts[$1]!, $0) }
    func constant(_ what: String) {
      diags.add(
        Diagnostic(
          .constantLabel, "the label of task `\(name)` is \(what) on every row of `\(written)`", at: l.span,
          help: "the task cannot learn anything from it: check the column and the rule"))
    }
    switch (t.type.value, l.positive, l.threshold) {
    case (.binary, let positive?, _):
      var positives = 0
      for p in positive {
        if let n = values.counts[p.value] {
          positives += n
          continue
        }
        let shown = seen.prefix(8).map { "`\($0)`" }.joined(separator: ", ") + (seen.count > 8 ? ", ..." : "")
        diags.error(
          .labelValueAbsent, "`\(p.value)` never occurs in column `\(l.column.value)` of `\(written)`", at: p.span,
          label: "no row has this value",
          help: Suggest.closest(to: p.value, among: seen).map { "did you mean `\($0)`?" }
            ?? "the column's values: \(shown)")
      }
      if positives == values.rows { constant("positive (1)") }
    case (.binary, nil, let th?):
      let numbers = values.counts.keys.compactMap(Double.init)
      if numbers.count == values.counts.count {
        if numbers.allSatisfy({ $0 > th }) { constant("positive (above \(th))") }
        if numbers.allSatisfy({ $0 <= th }) { constant("negative (not above \(th))") }
      }
    case (.regression, nil, nil):
      if values.counts.count == 1 { constant("`\(seen[0])`") }
    case (.multiclass, nil, nil):
      let markers = Set([""] + spec.features.flatMap(\.missing))
      let classes = values.counts.keys.filter { !markers.contains($0) }.sorted {
        $0.utf8.lexicographicallyPrecedes($1.utf8)
      }
      if l.classes == nil { dataClasses[name] = classes }
    default: break
    }
  }

  /// Sets each multiclass task's tower width: K for `label.classes`, else bound at run time from
  /// the classes fitted on the training rows. When the data was read, a label column with fewer
  /// than two classes (or an id-like number of them) is an error at the label.
  mutating func bindClasses(_ tasks: inout [TaskIR], _ blocks: inout [Block]) {
    for i in tasks.indices where tasks[i].type == .multiclass {
      guard let (column, rule) = tasks[i].label,
        let decl = spec.tasks.first(where: { $0.name.value == tasks[i].name }), let l = decl.label
      else { continue }
      let name = tasks[i].name
      let markers = Set(spec.features.flatMap(\.missing))
      if let bad = l.classes?.value.first(where: { markers.contains($0.value) }) {
        diags.error(
          .labelRule, "class `\(bad.value)` of task `\(name)` is also a missing marker", at: bad.span,
          help: "a cell with a missing marker has no class; remove it from `classes`")
      }
      if case .learnedClasses = rule, let found = dataClasses[name] {
        if found.count < 2 {
          diags.error(
            .labelRule,
            found.isEmpty
              ? "label column `\(column)` of multiclass task `\(name)` holds no class"
              : "multiclass task `\(name)` needs at least two classes; `\(column)` holds only `\(found[0])`",
            at: l.span, help: "list the classes with `classes: [...]`, or make the task binary")
        } else if found.count > 10_000 {
          diags.error(
            .outOfRange, "multiclass task `\(name)` has \(found.count) classes in `\(column)`, over 10000",
            at: l.span, help: "a column with that many values is an id, not a class")
        }
      }
      guard case .tower(let n) = tasks[i].source, let b = blocks.firstIndex(where: { $0.ref == .tower(n) }) else {
        continue
      }
      if case .classes(let cs) = rule {
        blocks[b].outWidth = cs.count
      } else {
        blocks[b].outWidth = 0
        blocks[b].outWidthFrom = name
      }
    }
  }
}
