import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLRuntime
import MTLTrain
import Testing

/// Each loss-balancing method against an independent reference: a two-task model small enough
/// to write out by hand (x[2] -> relu(x W1 + b1)[3] shared -> per task relu(h V + c)[2] -> logit
/// a u + d, binary cross-entropy), trained full-batch with SGD for 20 steps in Double here and by
/// mtlc in Float from the same initial weights. The weights must agree to 1e-5.
struct BalancingReferenceTests {
  static let spec = """
    mtlc: 1
    name: tiny
    data: {train: tiny.csv, test: tiny.csv}
    features:
      - {name: x1, kind: dense, normalize: none}
      - {name: x2, kind: dense, normalize: none}
    tasks:
      t1: {type: binary, label: {column: y1, positive: ["1"]}}
      t2: {type: binary, label: {column: y2, positive: ["1"]}}
    experts:
      bottom: {count: 1, input: features, units: [3], activation: relu}
    towers:
      t1: {input: experts.bottom, units: [2], activation: relu}
      t2: {input: experts.bottom, units: [2], activation: relu}
    training:
      optimizer: {type: sgd, learning_rate: 0.1}
      batch_size: 8
      epochs: 20
      seed: 11
    """
  // Labels chosen so the tasks conflict on the shared layer.
  static let rows: [(Double, Double, Double, Double)] = [
    (0.5, -1.0, 1, 0), (1.5, 0.3, 1, 0), (-0.7, 0.8, 0, 1), (0.2, 1.7, 0, 1),
    (-1.2, -0.4, 1, 1), (0.9, -0.6, 1, 0), (-0.3, 1.1, 0, 1), (1.1, 1.4, 0, 0),
  ]

  /// Parameters by name, as Double arrays.
  typealias Params = [String: [Double]]

  func session(_ method: LossBalancingKind?, threads: Int) throws -> (Session, Dataset) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-tiny-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var csv = "x1,x2,y1,y2\n"
    for r in Self.rows { csv += "\(r.0),\(r.1),\(Int(r.2)),\(Int(r.3))\n" }
    try csv.write(to: dir.appendingPathComponent("tiny.csv"), atomically: true, encoding: .utf8)
    var o = Compiler.Options()
    o.readData = false
    let r = Compiler.compile(
      bytes: Array(Self.spec.utf8), path: dir.appendingPathComponent("tiny.yaml").path, options: o)
    var g = try #require(r.graph, "\(r.rendered)")
    g.training.lossBalancing = method
    if method == .gradnorm { g.training.gradnormAlpha = 1.5 }
    let data = try LoadedData.load(g.pipeline, cache: nil)
    let s = Session(graph: g, fitted: data.fitted, seed: 11, threads: threads)
    return (s, data.train)
  }

  func params(_ s: Session) -> Params {
    var out: Params = [:]
    for (i, p) in s.graph.params.enumerated() { out[p.name] = s.executor.parameterArrays()[i].map(Double.init) }
    return out
  }

  // MARK: the reference

  struct Grads {
    var losses: [Double]
    /// Per task, the gradient of its mean loss with respect to every parameter.
    var perTask: [Params]
  }

  /// Forward and backward by hand, for each task separately.
  func gradients(_ p: Params) -> Grads {
    let W1 = p["experts.bottom.layer0.w"]!
    let b1 = p["experts.bottom.layer0.b"]!
    let n = Double(Self.rows.count)
    var losses: [Double] = []
    var perTask: [Params] = []
    for t in ["t1", "t2"] {
      let V = p["towers.\(t).layer0.w"]!
      let c = p["towers.\(t).layer0.b"]!
      let u = p["towers.\(t).logit.w"]!
      let d = p["towers.\(t).logit.b"]!
      var g: Params = [:]
      for (k, v) in p { g[k] = Array(repeating: 0, count: v.count) }
      var loss = 0.0
      for r in Self.rows {
        let x = [r.0, r.1]
        let y = t == "t1" ? r.2 : r.3
        // h = relu(x W1 + b1), W1 row-major [2, 3].
        var zh = [Double](repeating: 0, count: 3)
        for j in 0..<3 { zh[j] = b1[j] + x[0] * W1[j] + x[1] * W1[3 + j] }
        let h = zh.map { max($0, 0) }
        var za = [Double](repeating: 0, count: 2)
        for j in 0..<2 { za[j] = c[j] + (0..<3).reduce(0) { $0 + h[$1] * V[$1 * 2 + j] } }
        let a = za.map { max($0, 0) }
        let z = d[0] + a[0] * u[0] + a[1] * u[1]
        loss += (max(z, 0) - z * y + log(1 + exp(-abs(z)))) / n
        let dz = (1 / (1 + exp(-z)) - y) / n
        g["towers.\(t).logit.b"]![0] += dz
        var da = [Double](repeating: 0, count: 2)
        for j in 0..<2 {
          g["towers.\(t).logit.w"]![j] += a[j] * dz
          da[j] = za[j] > 0 ? u[j] * dz : 0
          g["towers.\(t).layer0.b"]![j] += da[j]
        }
        var dh = [Double](repeating: 0, count: 3)
        for i in 0..<3 {
          for j in 0..<2 {
            g["towers.\(t).layer0.w"]![i * 2 + j] += h[i] * da[j]
            dh[i] += V[i * 2 + j] * da[j]
          }
        }
        for j in 0..<3 where zh[j] > 0 {
          g["experts.bottom.layer0.b"]![j] += dh[j]
          for i in 0..<2 { g["experts.bottom.layer0.w"]![i * 3 + j] += x[i] * dh[j] }
        }
      }
      losses.append(loss)
      perTask.append(g)
    }
    return Grads(losses: losses, perTask: perTask)
  }

  static let shared = ["experts.bottom.layer0.w", "experts.bottom.layer0.b"]

  func train(_ method: LossBalancingKind?, from start: Params) -> (Params, [Double]) {
    var p = start
    let lr = 0.1
    var s = [0.0, 0.0]  // uncertainty
    var w = [1.0, 1.0]  // gradnorm
    var l0: [Double]?
    for _ in 0..<20 {
      let g = gradients(p)
      var weights = [1.0, 1.0]
      if method == .uncertainty { weights = s.map { Double(Float(exp(-Float($0)))) } }
      if method == .gradnorm { weights = w }
      var step: Params = [:]
      for k in p.keys {
        step[k] = (0..<p[k]!.count).map { i in weights[0] * g.perTask[0][k]![i] + weights[1] * g.perTask[1][k]![i] }
      }
      if method == .pcgrad {
        // Two tasks: each projected off the other's original gradient when they conflict.
        func flat(_ t: Int) -> [Double] { Self.shared.flatMap { g.perTask[t][$0]! } }
        let (g0, g1) = (flat(0), flat(1))
        let dot = zip(g0, g1).map(*).reduce(0, +)
        func project(_ a: [Double], _ b: [Double]) -> [Double] {
          dot < 0 ? zip(a, b).map { $0 - dot / b.map { $0 * $0 }.reduce(0, +) * $1 } : a
        }
        let sum = zip(project(g0, g1), project(g1, g0)).map(+)
        var k = 0
        for name in Self.shared {
          for i in 0..<p[name]!.count {
            step[name]![i] = sum[k]
            k += 1
          }
        }
      }
      var gradS = [0.0, 0.0]
      var gradW = [0.0, 0.0]
      if method == .uncertainty { gradS = (0..<2).map { -weights[$0] * g.losses[$0] + 0.5 } }
      if method == .gradnorm {
        if l0 == nil { l0 = g.losses }
        let G = (0..<2).map { t in
          (w[t] * w[t] * g.perTask[t]["experts.bottom.layer0.w"]!.map { $0 * $0 }.reduce(0, +)).squareRoot()
        }
        let meanG = G.reduce(0, +) / 2
        let ratios = (0..<2).map { g.losses[$0] / l0![$0] }
        let meanR = ratios.reduce(0, +) / 2
        for t in 0..<2 {
          let target = meanG * pow(ratios[t] / meanR, 1.5)
          let d = G[t] - target
          gradW[t] = (d > 0 ? 1 : d < 0 ? -1 : 0) * G[t] / w[t]
        }
      }
      for k in p.keys { for i in 0..<p[k]!.count { p[k]![i] -= lr * step[k]![i] } }
      for t in 0..<2 {
        s[t] -= lr * gradS[t]
        w[t] -= lr * gradW[t]
      }
      if method == .gradnorm {
        w = w.map { max($0, 1e-4) }
        let sum = w.reduce(0, +)
        w = w.map { $0 * 2 / sum }
      }
    }
    return (p, method == .uncertainty ? s : w)
  }

  @Test(
    "20 SGD steps of each method agree with the hand-written reference to 1e-5",
    arguments: [nil, LossBalancingKind.uncertainty, .gradnorm, .pcgrad], [1, 2])
  func agrees(_ method: LossBalancingKind?, threads: Int) throws {
    let (s, examples) = try session(method, threads: threads)
    let start = params(s)
    try s.train(examples, epochs: 20)
    let (expected, scalars) = train(method, from: start)
    let got = params(s)
    var worst = 0.0
    for (k, v) in expected { for (a, b) in zip(v, got[k]!) { worst = max(worst, abs(a - b)) } }
    #expect(worst < 1e-5, "largest weight difference \(worst)")
    // The tasks must have conflicted for pcgrad to be tested at all, and the weights moved.
    #expect(start != got)
    switch method {
    case .uncertainty?:
      let u = try #require(s.executor.balancer as? UncertaintyWeights)
      for t in 0..<2 { #expect(abs(Double(u.logVariance[t]) - scalars[t]) < 1e-5) }
    case .gradnorm?:
      for t in 0..<2 { #expect(abs(Double(s.executor.balancer.reportedWeights[t]) - scalars[t]) < 1e-5) }
      #expect(abs(scalars[0] - 1) > 1e-3, "gradnorm's weights never moved")
    default: break
    }
  }
}
