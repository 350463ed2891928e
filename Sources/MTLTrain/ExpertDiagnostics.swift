import MTLData
import MTLGraph

/// Which experts each gate relies on, and whether experts collapsed into copies of each other:
/// computed from a forward pass over a dataset (the test rows after training).
///
/// Thresholds (docs/spec.md, "Expert and gate diagnostics"):
/// - an expert is **unused** by a gate when its mean weight is under 0.1 / K (a tenth of uniform);
/// - an expert **dominates** a gate of K ≥ 3 experts when its mean weight is at least 0.5;
/// - two experts of a group are **alike** when the cosine similarity of their outputs over the rows
///   is at least 0.99 (e.g. from symmetric initialisation: they learnt the same function).
public struct ExpertReport: Codable, Equatable, Sendable {
  public static let unusedFraction = 0.1
  public static let dominantWeight = 0.5
  public static let alikeCosine = 0.99

  public struct Gate: Codable, Equatable, Sendable {
    public var gate: String
    /// The experts it mixes, in gate order (`group[e]`).
    public var experts: [String]
    /// Mean weight per expert over the rows (sums to 1).
    public var utilisation: [Double]
    /// Mean entropy of the gate's weights, divided by log K (1 = uniform, 0 = one expert).
    public var entropy: Double
    public var unused: [String]
    public var dominant: [String]
  }

  public struct Group: Codable, Equatable, Sendable {
    public var group: String
    public var experts: Int
    /// Largest cosine similarity between two experts' outputs.
    public var maxSimilarity: Double
    /// Pairs at or above `alikeCosine`, as "e1~e2".
    public var alike: [String]

    enum CodingKeys: String, CodingKey {
      case group, experts, alike
      case maxSimilarity = "max_similarity"
    }
  }

  public var gates: [Gate]
  public var groups: [Group]

  /// A compact table for the terminal.
  public var table: String {
    guard !gates.isEmpty || !groups.isEmpty else { return "" }
    func pad(_ s: String, _ n: Int) -> String {
      s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
    }
    let w = max(14, (gates.map(\.gate.count) + groups.map(\.group.count)).max() ?? 0) + 2
    var out = pad("gate", w) + "experts  entropy  most used (mean weight)       unused; dominant\n"
    for g in gates {
      let order = g.utilisation.indices.sorted { g.utilisation[$0] > g.utilisation[$1] }
      let top = order.prefix(2).map { "\(g.experts[$0]) \(fixed(g.utilisation[$0], 2))" }.joined(separator: ", ")
      let flags =
        (g.unused.isEmpty ? "-" : g.unused.joined(separator: " ")) + "; "
        + (g.dominant.isEmpty ? "-" : g.dominant.joined(separator: " "))
      out +=
        pad(g.gate, w) + pad(String(g.experts.count), 9) + pad(fixed(g.entropy, 2), 9) + pad(top, 30) + flags + "\n"
    }
    if !groups.isEmpty {
      out += pad("expert group", w) + "experts  max similarity  alike (cosine >= \(ExpertReport.alikeCosine))\n"
      for g in groups {
        out +=
          pad(g.group, w) + pad(String(g.experts), 9) + pad(fixed(g.maxSimilarity, 3), 16)
          + (g.alike.isEmpty ? "-" : g.alike.joined(separator: " ")) + "\n"
      }
    }
    return out
  }
}

extension Session {
  /// Gate utilisation and expert similarity over `data` (forward passes only).
  public func expertReport(_ data: Dataset) -> ExpertReport { expertReport(MemoryExamples(data)) }

  public func expertReport(_ data: any Examples) -> ExpertReport {
    // Gates: a softmax whose output a mix reads. Groups: every stacked value a mix reads.
    var gateOps: [(softmax: Op, mix: Op)] = []
    var groupValues: [ValueID] = []
    for op in graph.ops where op.kind == .mix {
      guard let sm = graph.ops.first(where: { $0.output == op.inputs[0] && $0.kind == .softmax }) else { continue }
      gateOps.append((sm, op))
      for v in op.inputs.dropFirst() where graph.values[v].experts > 1 && !groupValues.contains(v) {
        groupValues.append(v)
      }
    }
    guard !gateOps.isEmpty else { return ExpertReport(gates: [], groups: []) }

    var weightSums = gateOps.map { [Double](repeating: 0, count: graph.values[$0.softmax.output].width) }
    var entropySums = [Double](repeating: 0, count: gateOps.count)
    // Per group: Gram matrix of expert outputs (Σ over rows and width of x_i · x_j).
    var grams = groupValues.map { v in
      [Double](repeating: 0, count: graph.values[v].experts * graph.values[v].experts)
    }
    var lo = 0
    while lo < data.count {
      let hi = min(lo + executor.maxBatch, data.count)
      loadRange(data, lo, hi)
      executor.forward()
      for (gi, g) in gateOps.enumerated() {
        let k = graph.values[g.softmax.output].width
        let w = executor.valueArray(g.softmax.output)  // [B, K]
        for r in 0..<(hi - lo) {
          var h = 0.0
          for j in 0..<k {
            let p = Double(w[r * k + j])
            weightSums[gi][j] += p
            if p > 0 { h -= p * _log(p) }
          }
          entropySums[gi] += k > 1 ? h / _log(Double(k)) : 0
        }
      }
      for (vi, v) in groupValues.enumerated() {
        let e = graph.values[v].experts
        let hw = graph.values[v].width
        let x = executor.valueArray(v)  // [B, E, H]
        for r in 0..<(hi - lo) {
          let row = r * e * hw
          for i in 0..<e {
            for j in i..<e {
              var s: Float = 0
              for h in 0..<hw { s += x[row + i * hw + h] * x[row + j * hw + h] }
              grams[vi][i * e + j] += Double(s)
            }
          }
        }
      }
      lo = hi
    }
    let n = Double(max(data.count, 1))
    func expertName(_ mix: Op, _ ref: MixRef) -> String {
      let v = graph.values[mix.inputs[ref.input]]
      if let names = v.expertNames, ref.expert < names.count { return names[ref.expert] }
      return v.experts > 1 ? "\(v.name)[\(ref.expert)]" : v.name
    }
    var gates: [ExpertReport.Gate] = []
    for (gi, g) in gateOps.enumerated() {
      let names = (g.mix.mix ?? []).map { expertName(g.mix, $0) }
      let util = weightSums[gi].map { $0 / n }
      let k = Double(util.count)
      gates.append(
        ExpertReport.Gate(
          gate: g.mix.block, experts: names, utilisation: util, entropy: entropySums[gi] / n,
          unused: util.indices.filter { util[$0] < ExpertReport.unusedFraction / k }.map { names[$0] },
          dominant: util.count >= 3
            ? util.indices.filter { util[$0] >= ExpertReport.dominantWeight }.map { names[$0] } : []))
    }
    var groups: [ExpertReport.Group] = []
    for (vi, v) in groupValues.enumerated() {
      let e = graph.values[v].experts
      let gram = grams[vi]
      var maxSim = 0.0
      var alike: [String] = []
      for i in 0..<e {
        for j in (i + 1)..<e {
          let d = (gram[i * e + i] * gram[j * e + j]).squareRoot()
          let c = d > 0 ? gram[i * e + j] / d : 0
          maxSim = max(maxSim, c)
          if c >= ExpertReport.alikeCosine { alike.append("\(i)~\(j)") }
        }
      }
      let names = graph.values[v].expertNames ?? (0..<e).map { "\($0)" }
      let pairs = alike.map { p -> String in
        let ij = p.split(separator: "~").map { Int($0)! }
        return "\(names[ij[0]])~\(names[ij[1]])"
      }
      groups.append(ExpertReport.Group(group: graph.values[v].name, experts: e, maxSimilarity: maxSim, alike: pairs))
    }
    return ExpertReport(gates: gates, groups: groups)
  }
}
