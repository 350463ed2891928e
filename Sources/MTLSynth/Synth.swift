// `mtlc synth`: data whose truth is known, written row by row (memory bounded by the users and
// items, never by the rows), deterministic for a seed, each file with a companion JSON of its
// constants.
//
//   clicklog  an impression -> click -> purchase log (ESMM's setting): a purchase only after a
//             click, the true click and conversion probabilities beside the labels.
//   mmoe      the MMoE paper's two-task regression data (Ma et al., KDD 2018, §3.2), whose task
//             correlation is set by p.
import Foundation
import MTLSupport

public enum Synth {
  /// What was written: the rows, and facts the companion JSON also holds.
  public struct Summary: Sendable {
    public var rows: Int
    public var facts: [String: Double]
  }

  // MARK: - click log

  public struct ClickLogOptions: Sendable {
    public var rows = 100_000
    public var users = 50_000
    public var items = 10_000
    public var seed: UInt64 = 1
    public init() {}
  }

  /// Latent factors per user and item (4 each), item categories, prices and popularity, then
  /// rows: a user (uniform), an item (popularity ∝ rank^-0.8, Zipf-like), an hour and a device.
  ///   logit(click)    = −2.0 + 1.5·⟨u, v⟩ + 0.4·[hour in 18..23] − 0.3·[desktop] + 0.5·activity_u
  ///   logit(purchase | click) = −1.2 + 1.2·⟨u, v'⟩ − 0.8·(price_i − 1) + 0.3·[mobile]
  /// click ~ Bernoulli(σ(logit)); purchase ~ Bernoulli(p_cvr) after a click, else 0.
  public static func clickLog(_ o: ClickLogOptions, to out: StreamingFile) throws -> Summary {
    precondition(o.users > 0 && o.items > 0 && o.rows >= 0)
    var rng = SeededRNG(seed: o.seed, stream: "clicklog")
    let k = 4
    func normals(_ n: Int, _ sd: Double) -> [Float] { (0..<n).map { _ in Float(rng.nextNormal() * sd) } }
    let user = normals(o.users * k, 0.5)
    let activity = normals(o.users, 1)
    let item = normals(o.items * k, 0.5)
    let itemCvr = normals(o.items * k, 0.5)
    let categories = max(1, min(200, o.items / 50))
    let category = (0..<o.items).map { _ in rng.nextInt(below: categories) }
    let price = (0..<o.items).map { _ in Float(exp(rng.nextNormal() * 0.5)) }
    // Popularity: item r (0-based rank) drawn with weight (r + 1)^-0.8, by inverting the CDF.
    var cdf = [Double](repeating: 0, count: o.items)
    var total = 0.0
    for r in 0..<o.items {
      total += pow(Double(r + 1), -0.8)
      cdf[r] = total
    }
    let devices = ["mobile", "desktop", "tablet"]
    try out.write(
      "user,item,category,hour,device,user_activity,item_price,click,purchase,p_click,p_cvr\n")
    var clicks = 0
    var purchases = 0
    var sumPClick = 0.0
    for _ in 0..<o.rows {
      let u = rng.nextInt(below: o.users)
      let x = rng.nextDouble() * total
      var lo = 0
      var hi = o.items - 1
      while lo < hi {
        let mid = (lo + hi) / 2
        if cdf[mid] < x { lo = mid + 1 } else { hi = mid }
      }
      let i = lo
      let hour = rng.nextInt(below: 24)
      let device = rng.nextInt(below: 3)
      var dot: Float = 0
      var dotCvr: Float = 0
      for j in 0..<k {
        dot += user[u * k + j] * item[i * k + j]
        dotCvr += user[u * k + j] * itemCvr[i * k + j]
      }
      let zClick =
        -2.0 + 1.5 * dot + (hour >= 18 ? 0.4 : 0) - (device == 1 ? 0.3 : 0) + 0.5 * activity[u]
      let zCvr = -1.2 + 1.2 * dotCvr - 0.8 * (price[i] - 1) + (device == 0 ? 0.3 : 0)
      let pClick = 1 / (1 + exp(-Double(zClick)))
      let pCvr = 1 / (1 + exp(-Double(zCvr)))
      let click = rng.nextDouble() < pClick
      let buy = rng.nextDouble() < pCvr && click
      clicks += click ? 1 : 0
      purchases += buy ? 1 : 0
      sumPClick += pClick
      try out.write(
        "u\(u),i\(i),c\(category[i]),\(hour),\(devices[device]),\(activity[u]),\(price[i]),\(click ? 1 : 0),\(buy ? 1 : 0),\(Float(pClick)),\(Float(pCvr))\n"
      )
    }
    let n = Double(max(o.rows, 1))
    return Summary(
      rows: o.rows,
      facts: [
        "click_rate": Double(clicks) / n, "purchase_rate": Double(purchases) / n,
        "mean_p_click": sumPClick / n, "categories": Double(categories),
      ])
  }

  /// The click log's constants, for the companion JSON.
  public static func clickLogConstants(_ o: ClickLogOptions) -> [String: String] {
    [
      "generator": "mtlc synth clicklog", "rows": "\(o.rows)", "users": "\(o.users)", "items": "\(o.items)",
      "seed": "\(o.seed)", "latent_dim": "4", "item_popularity": "(rank + 1)^-0.8",
      "logit_click": "-2.0 + 1.5*<u,v> + 0.4*[hour >= 18] - 0.3*[desktop] + 0.5*user_activity",
      "logit_cvr": "-1.2 + 1.2*<u,v'> - 0.8*(item_price - 1) + 0.3*[mobile]",
      "purchase": "Bernoulli(p_cvr) after a click, else 0", "p_ctcvr": "p_click * p_cvr",
    ]
  }

  // MARK: - MMoE synthetic

  public struct MMoEOptions: Sendable {
    public var p = 0.5
    public var rows = 10_000
    public var seed: UInt64 = 2018
    public init() {}
    /// The paper's constants as the issue pins them.
    public static let d = 100
    public static let c = 1.0
    public static let m = 10
    public static let sigma = 0.01
    public static func alpha(_ i: Int) -> Double { Double(i) }
    public static func beta(_ i: Int) -> Double { Double(i * i) }
  }

  /// Ma et al. 2018, §3.2: u1, u2 orthogonal unit vectors in R^d; w1 = c·u1,
  /// w2 = c·(p·u1 + √(1 − p²)·u2); x ~ N(0, I_d); y_t = w_tᵀx + Σ_{i=1..m} sin(α_i·w_tᵀx + β_i) + ε,
  /// ε ~ N(0, σ²), with α_i = i, β_i = i². Columns x0..x99, y1, y2.
  public static func mmoe(_ o: MMoEOptions, to out: StreamingFile) throws -> Summary {
    precondition((-1...1).contains(o.p) && o.rows >= 0)
    typealias C = MMoEOptions
    var rng = SeededRNG(seed: o.seed, stream: "mmoe")
    var u1 = (0..<C.d).map { _ in rng.nextNormal() }
    var u2 = (0..<C.d).map { _ in rng.nextNormal() }
    func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    let n1 = norm(u1)
    u1 = u1.map { $0 / n1 }
    let proj = zip(u1, u2).reduce(0) { $0 + $1.0 * $1.1 }
    u2 = zip(u2, u1).map { $0 - proj * $1 }
    let n2 = norm(u2)
    u2 = u2.map { $0 / n2 }
    let w1 = u1.map { C.c * $0 }
    let w2 = zip(u1, u2).map { C.c * (o.p * $0 + (1 - o.p * o.p).squareRoot() * $1) }
    try out.write((0..<C.d).map { "x\($0)" }.joined(separator: ",") + ",y1,y2\n")
    // Pearson correlation of the labels, streamed.
    var (s1, s2, s11, s22, s12) = (0.0, 0.0, 0.0, 0.0, 0.0)
    var line = ""
    for _ in 0..<o.rows {
      let x = (0..<C.d).map { _ in rng.nextNormal() }
      var ys: [Double] = []
      for w in [w1, w2] {
        let wx = zip(w, x).reduce(0) { $0 + $1.0 * $1.1 }
        var y = wx
        for i in 1...C.m { y += sin(C.alpha(i) * wx + C.beta(i)) }
        ys.append(y + rng.nextNormal() * C.sigma)
      }
      s1 += ys[0]
      s2 += ys[1]
      s11 += ys[0] * ys[0]
      s22 += ys[1] * ys[1]
      s12 += ys[0] * ys[1]
      line.removeAll(keepingCapacity: true)
      for v in x {
        line += "\(Float(v)),"
      }
      line += "\(Float(ys[0])),\(Float(ys[1]))\n"
      try out.write(line)
    }
    let n = Double(max(o.rows, 1))
    let cov = s12 / n - s1 / n * s2 / n
    let v1 = s11 / n - s1 / n * s1 / n
    let v2 = s22 / n - s2 / n * s2 / n
    let corr = v1 > 0 && v2 > 0 ? cov / (v1 * v2).squareRoot() : 0
    return Summary(rows: o.rows, facts: ["label_correlation": corr, "cosine_w1_w2": o.p])
  }

  public static func mmoeConstants(_ o: MMoEOptions) -> [String: String] {
    typealias C = MMoEOptions
    return [
      "generator": "mtlc synth mmoe", "source": "Ma et al., KDD 2018, section 3.2", "rows": "\(o.rows)",
      "seed": "\(o.seed)", "p": "\(o.p)", "d": "\(C.d)", "c": "\(C.c)", "m": "\(C.m)", "sigma": "\(C.sigma)",
      "alpha_i": "i", "beta_i": "i^2",
      "labels": "y_t = w_t.x + sum_{i=1..m} sin(alpha_i w_t.x + beta_i) + N(0, sigma^2)",
      "weights": "w1 = c u1, w2 = c (p u1 + sqrt(1 - p^2) u2), u1 and u2 orthogonal unit vectors",
    ]
  }

  /// The companion JSON: the constants and what was measured on the written rows.
  public static func companion(_ constants: [String: String], _ s: Summary) -> String {
    // Numbers as JSON numbers; formulas and names as strings.
    var object: [String: Any] = constants.mapValues { v -> Any in Int(v).map { $0 as Any } ?? Double(v) ?? v }
    for (k, v) in s.facts { object[k] = v }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
