import MTLDiagnostics
import MTLSpec

/// Deterministic text form of the IR: a header, then one op per line with its shape and the
/// spec location it came from. Golden tests pin this text.
public enum IRPrinter {
  public static func print(_ m: IRModule) -> String {
    var lines: [(String, Span?)] = []
    lines.append(("; mtlc IR v1: model `\(m.name)` from \(m.specPath)", nil))
    var data = "; data train=\(m.data.train)"
    if let t = m.data.test { data += " test=\(t)" } else { data += " test_fraction=\(num(m.data.testFraction))" }
    data += " split_seed=\(m.data.splitSeed)"
    if m.data.delimiter != "," { data += " delimiter=\(quote(m.data.delimiter))" }
    if m.data.onBadRow != .error { data += " on_bad_row=\(m.data.onBadRow.rawValue)" }
    lines.append((data, nil))

    var parts: [String] = []
    for s in m.sparse {
      lines.append(
        (
          "%in.\(s.name) = embed column=\(quote(s.column)) vocab=\(vocab(s.vocabulary)) missing=\(list(s.missing)) dim=\(s.dim)\(s.sharesTable.map { " table=\($0)" } ?? "")\(s.multi.map { " multi=\(quote($0.separator.value)):\($0.maxLength):\($0.pooling.rawValue)" } ?? "") : [B,\(s.dim)]",
          s.span
        ))
      parts.append("%in.\(s.name)")
    }
    for d in m.dense {
      lines.append(
        (
          "%in.\(d.name) = dense column=\(quote(d.column)) normalize=\(d.normalize.rawValue) missing=\(list(d.missing)) : [B,1]",
          d.span
        ))
      parts.append("%in.\(d.name)")
    }
    lines.append(("%features = concat(\(parts.joined(separator: ", "))) : [B,\(m.featureWidth)]", m.featuresSpan))

    for b in m.blocks {
      let ins = b.inputs.map { "%\($0)" }.joined(separator: ", ")
      let shape = b.outExperts == 1 ? "[B,\(b.outWidth)]" : "[B,\(b.outExperts),\(b.outWidth)]"
      let drop = (b.batchNorm ? " batch_norm" : "") + (b.dropout > 0 ? " dropout=\(num(b.dropout))" : "")
      switch b.kind {
      case .experts(let count, let units, let act):
        lines.append(
          (
            "%\(b.qualifiedName) = experts count=\(count) units=\(ints(units)) act=\(act.rawValue)\(drop) (\(ins)) : [B,\(b.inputWidth)] -> \(shape)",
            b.span
          ))
      case .gate(let mixes, let units, let act):
        let g = mixes.map(\.description).joined(separator: ", ")
        var attrs = "k=\(b.mixed)"
        if !units.isEmpty { attrs += " units=\(ints(units)) act=\(act.rawValue)\(drop)" }
        if b.gateBias { attrs += " bias" }
        lines.append(
          ("%\(b.qualifiedName) = gate \(attrs) (\(ins)) mix(\(g)) : [B,\(b.inputWidth)] -> \(shape)", b.span))
      case .tower(let units, let act):
        lines.append(
          (
            "%\(b.qualifiedName) = tower units=\(ints(units)) act=\(act.rawValue)\(drop)\(b.transfer.map { " transfer=\($0.fromTask):\($0.units)" } ?? "") (\(ins)) : [B,\(b.inputWidth)] -> [B,\(b.outWidthFrom.map { "K(\($0))" } ?? "\(b.outWidth)")]",
            b.span
          ))
      }
    }
    for t in m.tasks {
      let src: String
      switch t.source {
      case .tower(let n):
        src =
          t.type == .binary
          ? "sigmoid(%towers.\(n))" : t.type == .multiclass ? "softmax(%towers.\(n))" : "identity(%towers.\(n))"
      case .product(let ms): src = "product(" + ms.map { "%tasks.\($0)" }.joined(separator: ", ") + ")"
      }
      var line = "%tasks.\(t.name) = \(t.type.rawValue) \(src)"
      if let l = t.label {
        line += " label=\(quote(l.column))"
        switch l.rule {
        case .positive(let p): line += " positive=\(list(p))"
        case .threshold(let x): line += " threshold=\(num(x))"
        case .value: line += " value"
        case .classes(let cs): line += " classes=\(list(cs))"
        case .learnedClasses: line += " classes=learned"
        }
        if let (c, rule) = t.labelOptions.space {
          line += " where=\(quote(c))"
          switch rule {
          case .positive(let p): line += " positive=\(list(p))"
          case .threshold(let x): line += " threshold=\(num(x))"
          case .value, .classes, .learnedClasses: break
          }
        }
        if t.labelOptions.missing == .mask { line += " missing=mask" }
        if t.labelOptions.normalize == .standard { line += " normalize=standard" }
        if let pw = t.positiveWeight { line += " positive_weight=\(num(pw))" }
        if let c = t.calibration { line += " calibration=\(num(c.weight)):\(c.upstream)" }
        line += " weight=\(num(t.lossWeight))"
      } else {
        line += " unlabelled"
      }
      lines.append((line + " : [B,\(t.outputWidth == 0 ? "K(\(t.name))" : "\(t.outputWidth)")]", t.span))
    }
    let tr = m.training
    var opt = "optimizer=\(tr.optimizer.rawValue) lr=\(num(tr.learningRate))"
    switch tr.optimizer {
    case .adam: opt += " beta1=\(num(tr.beta1)) beta2=\(num(tr.beta2)) epsilon=\(num(tr.epsilon))"
    case .adamw:
      opt +=
        " beta1=\(num(tr.beta1)) beta2=\(num(tr.beta2)) epsilon=\(num(tr.epsilon)) weight_decay=\(num(tr.weightDecay))"
    case .adagrad: opt += " initial_accumulator=\(num(tr.initialAccumulator)) epsilon=\(num(tr.epsilon))"
    case .sgd: opt += " momentum=\(num(tr.momentum))"
    }
    lines.append(
      (
        "; train \(opt) batch=\(tr.batchSize) epochs=\(tr.epochs) seed=\(tr.seed) l2.embeddings=\(num(tr.l2Embeddings)) l2.weights=\(num(tr.l2Weights))"
          + (tr.clipNorm > 0 ? " clip_norm=\(num(tr.clipNorm))" : "")
          + (tr.lossBalancing != .none ? " loss_balancing=\(tr.lossBalancing.rawValue)" : "")
          + (tr.lossBalancing == .gradnorm ? " alpha=\(num(tr.gradnormAlpha))" : "")
          + (tr.schedule.map {
            " schedule=warmup:\($0.warmupSteps),\($0.decay.rawValue)"
              + ($0.decay == .none ? "" : ":\($0.decaySteps)")
              + ($0.decay == .cosine ? ",min:\(num($0.minRate))" : "")
              + ($0.decay == .step || $0.decay == .exponential ? ",rate:\(num($0.decayRate))" : "")
          } ?? ""), nil
      ))

    return lines.map { text, span in
      guard let span else { return text }
      return text + "  ; " + span.location
    }.joined(separator: "\n") + "\n"
  }

  static func num(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
    return String(x)
  }
  static func ints(_ a: [Int]) -> String { "[" + a.map(String.init).joined(separator: ",") + "]" }
  static func list(_ a: [String]) -> String { "[" + a.map(quote).joined(separator: ",") + "]" }
  /// Names print bare when they are simple, quoted otherwise.
  static func quote(_ s: String) -> String {
    let simple =
      !s.isEmpty
      && s.unicodeScalars.allSatisfy {
        ($0.value >= 48 && $0.value <= 57) || ($0.value >= 65 && $0.value <= 90) || ($0.value >= 97 && $0.value <= 122)
          || $0 == "_" || $0 == "-" || $0 == "."
      }
    if simple { return s }
    var out = "\""
    for c in s.unicodeScalars {
      switch c {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      default:
        if c.value < 0x20 { out += "\\u{\(String(c.value, radix: 16))}" } else { out.unicodeScalars.append(c) }
      }
    }
    return out + "\""
  }
  static func vocab(_ v: VocabularyDecl) -> String {
    switch v {
    case .learned(let n, let most):
      let parts = (n == 1 ? [] : ["min_count=\(n)"]) + (most.map { ["max_size=\($0)"] } ?? [])
      return parts.isEmpty ? "learned" : "learned(\(parts.joined(separator: ",")))"
    case .fixed(let vs): return "fixed(\(vs.count))"
    case .hashed(let b): return "hashed(\(b))"
    }
  }
}

/// Checks the IR's invariants. Runs after every pass in tests and debug builds.
public enum IRVerifier {
  public static func verify(_ m: IRModule) -> [String] {
    var problems: [String] = []
    var seen: Set<BlockRef> = [.features]
    for b in m.blocks {
      for i in b.inputs where !seen.contains(i) {
        problems.append("\(b.qualifiedName) reads \(i) before it is defined")
      }
      if (b.outWidth <= 0 && b.outWidthFrom == nil) || b.outExperts <= 0 {
        problems.append("\(b.qualifiedName) has an empty output")
      }
      let w = b.inputs.reduce(0) { $0 + m.shape(of: $1).1 }
      if w != b.inputWidth { problems.append("\(b.qualifiedName) input width \(b.inputWidth) != \(w)") }
      for i in b.inputs where m.shape(of: i).0 != 1 { problems.append("\(b.qualifiedName) reads stacked \(i)") }
      if case .gate(let mixes, _, _) = b.kind {
        var k = 0
        for s in mixes {
          guard let e = m.block(.experts(s.group)), seen.contains(e.ref) else {
            problems.append("\(b.qualifiedName) mixes unknown experts.\(s.group)")
            continue
          }
          if e.outWidth != b.outWidth {
            problems.append("\(b.qualifiedName) width \(b.outWidth) != experts.\(s.group) \(e.outWidth)")
          }
          if s.start < 0 || s.count < 1 || s.start + s.count > e.outExperts {
            problems.append("\(b.qualifiedName) mixes \(s), outside the group's \(e.outExperts) experts")
          }
          k += s.count
        }
        if k != b.mixed { problems.append("\(b.qualifiedName) mixes \(k) experts, says \(b.mixed)") }
      }
      seen.insert(b.ref)
    }
    let names = Set(m.tasks.map(\.name))
    for t in m.tasks {
      switch t.source {
      case .tower(let n): if m.block(.tower(n)) == nil { problems.append("tasks.\(t.name) reads missing towers.\(n)") }
      case .product(let ms):
        for x in ms where !names.contains(x) { problems.append("tasks.\(t.name) multiplies missing \(x)") }
      }
    }
    return problems
  }
}
