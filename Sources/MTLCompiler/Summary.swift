import MTLGraph

/// The compile summary: parameters per block and in total, and the op count.
public enum Summary {
  public struct Row: Equatable {
    public var block: String
    public var params: Int?  // nil when an embedding's vocabulary is not known yet
    public var detail: String
  }

  public static func rows(_ g: Graph) -> [Row] {
    var order: [String] = []
    var byBlock: [String: [Param]] = [:]
    for p in g.params {
      if byBlock[p.block] == nil { order.append(p.block) }
      byBlock[p.block, default: []].append(p)
    }
    return order.map { b in
      let ps = byBlock[b]!
      let known = ps.allSatisfy { $0.shape.allSatisfy { $0 > 0 } }
      let detail: String
      if b == "embeddings" {
        let rows = ps.map { $0.shape[0] }
        detail = known ? "\(ps.count) tables, \(rows.reduce(0, +)) rows" : "\(ps.count) tables, rows from the data"
      } else {
        detail = ps.map { "\($0.name.split(separator: ".").suffix(2).joined(separator: ".")) \($0.shapeText)" }.joined(
          separator: " ")
      }
      return Row(block: b, params: known ? ps.reduce(0) { $0 + $1.count } : nil, detail: detail)
    }
  }

  public static func render(_ g: Graph) -> String {
    let rs = rows(g)
    let width = max(12, (rs.map(\.block.count).max() ?? 0) + 2)
    func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
    func lpad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
    var out =
      "model `\(g.name)`: \(g.ops.count) ops, \(g.params.count) parameter tensors, \(g.tasks.count) task\(g.tasks.count == 1 ? "" : "s")\n"
    out += pad("block", width) + lpad("params", 10) + "  detail\n"
    for r in rs {
      let shown = r.params.map { String($0) } ?? "?"
      let detail = r.detail.count > 70 ? String(r.detail.prefix(67)) + "..." : r.detail
      out += pad(r.block, width) + lpad(shown, 10) + "  " + detail + "\n"
    }
    let total = rs.allSatisfy { $0.params != nil } ? String(rs.reduce(0) { $0 + $1.params! }) : "?"
    out +=
      pad("total", width) + lpad(total, 10) + (total == "?" ? "  (embedding rows come from the training data)" : "")
      + "\n"
    return out
  }
}

/// A one-op-per-line text form of the executable graph (`mtlc compile --emit graph`).
public enum GraphPrinter {
  public static func print(_ g: Graph) -> String {
    var out = "; mtlc graph v\(g.version): model `\(g.name)` from \(g.source)\n"
    for (i, p) in g.params.enumerated() {
      out += "param #\(i) \(p.name) \(p.shapeText) \(p.kind.rawValue) init=\(initText(p.initializer))"
      if p.l2 > 0 { out += " l2=\(p.l2)" }
      out += "\n"
    }
    for op in g.ops {
      let y = g.values[op.output]
      let ins = op.inputs.map { "%\(g.values[$0].name)" }.joined(separator: ", ")
      let ps = op.params.map { "#\($0)" }.joined(separator: ", ")
      var line = "%\(y.name) = \(op.kind.rawValue)"
      if op.activation != .none { line += "+\(op.activation.rawValue)" }
      if let s = op.slot { line += " slot=\(s)" }
      if let s = op.slope { line += " slope=\(s)" }
      if let refs = op.mix {
        line += " experts=[" + refs.map { "\($0.input):\($0.expert)" }.joined(separator: ",") + "]"
      }
      line += "(\(ins)\(ins.isEmpty || ps.isEmpty ? "" : "; ")\(ps)) : \(y.shapeText)  ; \(op.loc)"
      out += line + "\n"
    }
    for l in g.losses {
      out +=
        "loss \(l.kind.rawValue)(%\(g.values[l.input].name), label[\(l.label)]) weight=\(l.weight) ; task \(l.task)\n"
    }
    return out
  }

  static func initText(_ i: Initializer) -> String {
    switch i {
    case .glorotUniform(let a, let b): return "glorot_uniform(\(a),\(b))"
    case .zeros: return "zeros"
    case .ones: return "ones"
    case .normal(let s): return "normal(\(s))"
    case .uniform(let l): return "uniform(\(l))"
    case .constant(let v): return "constant(\(v))"
    }
  }
}
