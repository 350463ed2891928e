import Foundation
import MTLGraph
import MTLSupport

/// `mtlc run --report DIR`: one self-contained HTML page (no scripts, nothing fetched) with the
/// architecture, per-task loss and test-metric curves by epoch, the final metrics and the gate
/// utilisation heat-map. The picture is drawn by Graphviz `dot` when it is installed, else by a
/// small built-in layered layout.
public enum RunReport {
  public struct Input {
    public var graph: Graph
    public var metrics: [TaskMetrics]
    public var history: [EpochReport]
    /// Test metrics after each epoch (same order as `history`; may be shorter after a resume).
    public var epochMetrics: [[TaskMetrics]]
    public var experts: ExpertReport
    public var command: String
    public init(
      graph: Graph, metrics: [TaskMetrics], history: [EpochReport], epochMetrics: [[TaskMetrics]],
      experts: ExpertReport, command: String
    ) {
      self.graph = graph
      self.metrics = metrics
      self.history = history
      self.epochMetrics = epochMetrics
      self.experts = experts
      self.command = command
    }
  }

  /// Writes `DIR/report.html` (atomically); returns its path.
  @discardableResult
  public static func write(_ input: Input, to dir: String) throws -> String {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = (dir.hasSuffix("/") ? dir : dir + "/") + "report.html"
    try AtomicFile.write(html(input), to: path)
    return path
  }

  public static func html(_ r: Input) -> String {
    let g = r.graph
    var body = "<h1>\(esc(g.name))</h1>\n<p class=sub>\(esc(r.command))</p>\n"
    body += "<h2>Architecture</h2>\n<div class=arch>\(Architecture.svg(g))</div>\n"
    body += "<h2>Test metrics</h2>\n" + metricsTable(r.metrics)
    if !r.history.isEmpty {
      body += "<h2>Training</h2>\n<div class=charts>"
      let epochs = r.history.map { Double($0.epoch) }
      let losses = g.losses.map { l in (l.task, r.history.map { $0.taskLoss[l.task] ?? .nan }) }
      body += Chart.lines(title: "training loss per task (mean over the epoch's batches)", x: epochs, series: losses)
      let offset = r.history.count - r.epochMetrics.count
      let mx = Array(epochs.dropFirst(max(0, offset)))
      let aucs: [(String, [Double])] = g.tasks.filter { $0.type == .binary && $0.label != nil }.map { t in
        (t.name, r.epochMetrics.map { ms in ms.first { $0.task == t.name }?.auc ?? .nan })
      }
      if !aucs.isEmpty && !mx.isEmpty { body += Chart.lines(title: "test AUC after each epoch", x: mx, series: aucs) }
      let mses: [(String, [Double])] = g.tasks.filter { $0.type == .regression && $0.label != nil }.map { t in
        (t.name, r.epochMetrics.map { ms in ms.first { $0.task == t.name }?.mse ?? .nan })
      }
      if !mses.isEmpty && !mx.isEmpty { body += Chart.lines(title: "test MSE after each epoch", x: mx, series: mses) }
      body += "</div>\n"
    }
    if !r.experts.gates.isEmpty {
      body += "<h2>Gate utilisation</h2>\n<p class=sub>Mean weight each gate gives each expert on the test rows; "
      body +=
        "entropy 1 = uniform, 0 = one expert. Unused: under a tenth of a uniform share; dominant: at least 0.5.</p>\n"
      body += heatmap(r.experts)
    }
    return """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>mtlc run: \(esc(g.name))</title>
      <style>
      body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
      h1{margin-bottom:0}h2{margin-top:1.8em;border-bottom:1px solid #ddd}.sub{color:#666;margin-top:.2em}
      table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 9px;border:1px solid #ddd;text-align:right}
      th{background:#f4f4f4}td.l,th.l{text-align:left}.arch{overflow-x:auto}.arch svg{max-width:100%;height:auto}
      .charts{display:flex;flex-wrap:wrap;gap:1.5em}.flag{color:#b00;font-weight:600}
      .scroll{overflow-x:auto}table.heat td,table.heat th{padding:2px 5px;font-size:11px;min-width:3.2em}
      </style></head><body>
      \(body)
      </body></html>

      """
  }

  static func esc(_ s: String) -> String {
    var o = ""
    for c in s.unicodeScalars {
      switch c {
      case "&": o += "&amp;"
      case "<": o += "&lt;"
      case ">": o += "&gt;"
      case "\"": o += "&quot;"
      default: o.unicodeScalars.append(c)
      }
    }
    return o
  }

  static func metricsTable(_ ms: [TaskMetrics]) -> String {
    func f(_ x: Double?) -> String { x.map { fixed($0, 4) } ?? "–" }
    var t = "<table><tr><th class=l>task</th><th class=l>type</th><th>rows</th><th>AUC</th><th>logloss</th>"
    t += "<th>positive rate</th><th>mean prediction</th><th>MSE</th><th>MAE</th></tr>\n"
    for m in ms {
      t +=
        "<tr><td class=l>\(esc(m.task))\(m.labelled ? "" : " (no label)")</td><td class=l>\(m.type)</td><td>\(m.count)</td>"
      t += "<td>\(f(m.auc))</td><td>\(f(m.logloss))</td><td>\(f(m.positiveRate))</td><td>\(f(m.meanPrediction))</td>"
      t += "<td>\(f(m.mse))</td><td>\(f(m.mae))</td></tr>\n"
    }
    return t + "</table>\n"
  }

  static func heatmap(_ r: ExpertReport) -> String {
    var out = ""
    for g in r.gates {
      let top = max(g.utilisation.max() ?? 1, 1e-9)
      out +=
        "<h3>\(esc(g.gate)) <span class=sub>entropy \(fixed(g.entropy, 2))</span></h3>\n<div class=scroll><table class=heat><tr>"
      for e in g.experts { out += "<th>\(esc(e))</th>" }
      out += "</tr>\n<tr>"
      for (i, u) in g.utilisation.enumerated() {
        let a = u / top
        let dark = a > 0.6
        let flag = g.unused.contains(g.experts[i]) ? " unused" : (g.dominant.contains(g.experts[i]) ? " dominant" : "")
        out += "<td style=\"background:rgba(31,119,180,\(fixed(0.08 + 0.92 * a, 3)));color:\(dark ? "#fff" : "#222")\">"
        out += fixed(u, 3) + (flag.isEmpty ? "" : "<br><span class=flag>\(flag)</span>") + "</td>"
      }
      out += "</tr></table></div>\n"
    }
    if !r.groups.isEmpty {
      out += "<h3>Expert similarity</h3>\n<table><tr><th class=l>group</th><th>experts</th><th>max cosine</th>"
      out += "<th class=l>alike (cosine ≥ \(ExpertReport.alikeCosine))</th></tr>\n"
      for g in r.groups {
        out += "<tr><td class=l>\(esc(g.group))</td><td>\(g.experts)</td><td>\(fixed(g.maxSimilarity, 3))</td>"
        out +=
          "<td class=l>\(g.alike.isEmpty ? "–" : "<span class=flag>" + esc(g.alike.joined(separator: " ")) + "</span>")</td></tr>\n"
      }
      out += "</table>\n"
    }
    return out
  }
}

/// Line charts as inline SVG.
enum Chart {
  static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

  static func lines(title: String, x: [Double], series: [(String, [Double])]) -> String {
    let (w, h, l, b, t, rpad) = (460.0, 276.0, 56.0, 34.0, 44.0, 12.0)
    let ys = series.flatMap(\.1).filter(\.isFinite)
    guard let lo0 = ys.min(), let hi0 = ys.max(), let x0 = x.first, let x1 = x.last else { return "" }
    let pad = max((hi0 - lo0) * 0.08, 1e-6)
    let (lo, hi) = (lo0 - pad, hi0 + pad)
    func px(_ v: Double) -> Double { x1 == x0 ? l + (w - l - rpad) / 2 : l + (v - x0) / (x1 - x0) * (w - l - rpad) }
    func py(_ v: Double) -> Double { t + (hi - v) / (hi - lo) * (h - t - b) }
    var s =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"11\">"
    s += "<text x=\"\(l)\" y=\"16\" font-size=\"12\" font-weight=\"600\">\(RunReport.esc(title))</text>"
    s += "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(w - l - rpad)\" height=\"\(h - t - b)\" fill=\"none\" stroke=\"#ccc\"/>"
    for i in 0...4 {
      let v = lo + (hi - lo) * Double(i) / 4
      s += "<text x=\"\(l - 5)\" y=\"\(fixed(py(v) + 4, 1))\" text-anchor=\"end\" fill=\"#555\">\(fixed(v, 3))</text>"
      s += "<line x1=\"\(l)\" x2=\"\(w - rpad)\" y1=\"\(fixed(py(v), 1))\" y2=\"\(fixed(py(v), 1))\" stroke=\"#eee\"/>"
    }
    let step = max(1, x.count / 10)
    for (i, v) in x.enumerated() where i % step == 0 || i == x.count - 1 {
      s += "<text x=\"\(fixed(px(v), 1))\" y=\"\(h - b + 15)\" text-anchor=\"middle\" fill=\"#555\">\(Int(v))</text>"
    }
    s += "<text x=\"\(fixed((l + w) / 2, 1))\" y=\"\(h - 4)\" text-anchor=\"middle\" fill=\"#555\">epoch</text>"
    for (k, (name, ysk)) in series.enumerated() {
      let c = colours[k % colours.count]
      let pts = zip(x, ysk).filter { $0.1.isFinite }.map { "\(fixed(px($0.0), 1)),\(fixed(py($0.1), 1))" }
      s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>"
      for p in pts {
        s +=
          "<circle r=\"2.5\" fill=\"\(c)\" cx=\"\(p.split(separator: ",")[0])\" cy=\"\(p.split(separator: ",")[1])\"/>"
      }
      // Legend in a row above the plot, clear of the lines.
      let lx = l + Double(k) * 110
      s += "<rect x=\"\(lx)\" y=\"24\" width=\"10\" height=\"10\" fill=\"\(c)\"/>"
      s += "<text x=\"\(lx + 14)\" y=\"33\">\(RunReport.esc(name))</text>"
    }
    return s + "</svg>"
  }
}
