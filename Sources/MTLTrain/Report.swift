import Foundation
import MTLGraph
import MTLSupport

/// `mtlc run --report DIR`: one self-contained HTML page (no scripts, nothing fetched) with the
/// run's settings, the architecture as the spec wrote it, the final metrics, one training-loss
/// chart per labelled task, the test-metric curves by epoch and the gate utilisation heat-map
/// (gates × experts). The picture is drawn by Graphviz `dot` when it is installed, else by a small
/// built-in layered layout.
public enum RunReport {
  public struct Input {
    public var graph: Graph
    public var metrics: [TaskMetrics]
    public var history: [EpochReport]
    /// Validation rows, when the run had a validation set (its scores are in `history`).
    public var validationRows: Int? = nil
    /// With early stopping: the epoch whose parameters the run ended with.
    public var bestEpoch: Int? = nil
    public var experts: ExpertReport
    public var command: String
    /// The seed of initialisation and shuffling (the spec's or `--seed`).
    public var seed: UInt64
    /// Threads that shared each batch.
    public var threads: Int
    public var trainRows: Int
    public var testRows: Int
    /// When the run finished (shown in UTC).
    public var finished: Date
    public init(
      graph: Graph, metrics: [TaskMetrics], history: [EpochReport], experts: ExpertReport, command: String,
      seed: UInt64, threads: Int, trainRows: Int, testRows: Int,
      finished: Date = Date()
    ) {
      self.graph = graph
      self.metrics = metrics
      self.history = history
      self.experts = experts
      self.command = command
      self.seed = seed
      self.threads = threads
      self.trainRows = trainRows
      self.testRows = testRows
      self.finished = finished
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
    body += "<h2>Run</h2>\n" + settingsTable(r)
    body += "<h2>Architecture</h2>\n<div class=arch>\(Architecture.svg(g))</div>\n"
    body += "<h2>Test metrics</h2>\n" + metricsTable(r.metrics)
    if !r.history.isEmpty {
      let validated = r.history.contains { $0.validationTaskLoss != nil }
      body += "<h2>Training</h2>\n<p class=sub>Loss of each labelled task, mean over the epoch's batches"
      body += validated ? ", and on the validation rows after the epoch" : ""
      body += " (one axis per task: losses of different kinds are not comparable).</p>\n<div class=charts>"
      let epochs = r.history.map { Double($0.epoch) }
      for l in g.losses {
        let title = "\(l.task): \(lossName(l.kind))" + (l.weight == 1 ? "" : ", weight \(l.weight)")
        var series = [("training", r.history.map { $0.taskLoss[l.task] ?? .nan })]
        if validated { series.append(("validation", r.history.map { $0.validationTaskLoss?[l.task] ?? .nan })) }
        body += Chart.lines(title: title, x: epochs, series: series, width: 340, height: 220, cls: "loss")
      }
      body += "</div>\n"
      if validated {
        // Validation curves; the test rows appear only in the final table above, scored once.
        body += "<div class=charts>"
        func curve(_ t: TaskOutput, _ f: (TaskMetrics) -> Double?) -> (String, [Double]) {
          (t.name, r.history.map { h in h.validation?.first { $0.task == t.name }.flatMap(f) ?? .nan })
        }
        let labelled = g.tasks.filter { $0.label != nil }
        let aucs = labelled.filter { $0.type != .regression }.map { curve($0) { $0.auc } }
        if !aucs.isEmpty {
          body += Chart.lines(title: "validation AUC after each epoch (multiclass: macro)", x: epochs, series: aucs)
        }
        let mses = labelled.filter { $0.type == .regression }.map { curve($0) { $0.mse } }
        if !mses.isEmpty { body += Chart.lines(title: "validation MSE after each epoch", x: epochs, series: mses) }
        body += "</div>\n"
      }
      body += balancingCharts(r, epochs: epochs)
    }
    if !r.experts.gates.isEmpty {
      body += "<h2>Gate utilisation</h2>\n<p class=sub>Mean weight each gate (row) gives each expert (column) on the "
      body += "test rows; blank where the gate does not mix that expert. Shade: relative to the gate's largest weight. "
      body += "Entropy 1 = uniform, 0 = one expert. <span class=unused>Unused</span>: under a tenth of a uniform "
      body += "share; <span class=dominant>dominant</span>: at least 0.5.</p>\n"
      body += heatmap(r.experts, g)
    }
    return """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>mtlc run: \(esc(g.name))</title>
      <style>
      body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
      h1{margin-bottom:0}h2{margin-top:1.8em;border-bottom:1px solid #ddd}.sub{color:#666;margin-top:.2em}
      table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 9px;border:1px solid #ddd;text-align:right}
      th{background:#f4f4f4}td.l,th.l{text-align:left}.arch{overflow-x:auto}.arch svg{max-width:100%;height:auto}
      table.settings th{text-align:left;font-weight:600}table.settings td{text-align:left}
      .charts{display:flex;flex-wrap:wrap;gap:1.5em;margin-bottom:1em}.flag{color:#b00;font-weight:600}
      .scroll{overflow-x:auto}table.heat td,table.heat th{padding:2px 2px;font-size:10px;min-width:1.9em}
      table.heat.roomy td,table.heat.roomy th{padding:3px 6px;font-size:12px;min-width:2.6em}
      table.heat th.g{font-size:11px;text-align:center}table.heat.roomy th.g{font-size:12px}
      table.heat .g,table.heat .g0{border-left:2px solid #999}table.heat td.na{background:#fafafa}
      td.unused,span.unused{outline:2px dashed #b00;outline-offset:-2px}
      td.dominant,span.dominant{outline:2px solid #b00;outline-offset:-2px;font-weight:700}
      span.unused,span.dominant{padding:0 3px}
      </style></head><body>
      \(body)
      </body></html>

      """
  }

  /// What the run was: model, optimiser, batch, epochs, seeds, rows, threads, version, when.
  static func settingsTable(_ r: Input) -> String {
    let g = r.graph
    let t = g.training
    var optimiser = "\(t.optimizer.rawValue), learning rate \(t.learningRate)"
    if t.optimizer == .sgd && t.momentum != 0 { optimiser += ", momentum \(t.momentum)" }
    if t.clipNorm > 0 { optimiser += ", gradient norm clipped to \(t.clipNorm)" }
    let testRows =
      g.pipeline.test != nil
      ? "\(r.testRows) (from \(g.pipeline.test!))"
      : "\(r.testRows) (\(fixed(g.pipeline.testFraction * 100, 0))% held out, split seed \(g.pipeline.splitSeed))"
    let finished = ISO8601DateFormatter()
    finished.timeZone = TimeZone(identifier: "UTC")
    var rows: [(String, String)] = [
      ("model", g.name), ("spec", g.source),
      ("optimiser", optimiser), ("batch size", "\(t.batchSize)"),
      ("epochs", "\(t.epochs)"), ("seed", "\(r.seed)"),
      ("training rows", "\(r.trainRows)"), ("test rows", testRows),
    ]
    if let v = r.validationRows {
      rows.append(
        (
          "validation rows",
          g.pipeline.validation.map { "\(v) (from \($0))" }
            ?? "\(v) (\(fixed(g.pipeline.validationFraction * 100, 0))% held out)"
        ))
    }
    if let e = t.earlyStopping {
      rows.append(
        (
          "early stopping",
          "\(e.monitor), patience \(e.patience)" + (r.bestEpoch.map { "; kept epoch \($0)" } ?? "")
        ))
    }
    rows += [
      ("threads", "\(r.threads)"), ("mtlc version", MTLVersion.string),
      ("finished (UTC)", finished.string(from: r.finished)),
    ]
    var out = "<table class=settings>"
    // Two settings a row.
    for i in stride(from: 0, to: rows.count, by: 2) {
      out += "<tr>"
      for (k, v) in rows[i..<min(i + 2, rows.count)] { out += "<th>\(esc(k))</th><td>\(esc(v))</td>" }
      out += "</tr>\n"
    }
    return out + "</table>\n"
  }

  static func lossName(_ k: LossKind) -> String {
    switch k {
    case .bceLogits: return "log-loss"
    case .bceProb: return "log-loss of the product"
    case .mse: return "mean squared error"
    case .softmaxCrossEntropy: return "cross-entropy"
    }
  }

  /// The loss balancer's weights per epoch, and the gradient cosines between tasks, when the run
  /// recorded them (`training.loss_balancing`).
  static func balancingCharts(_ r: Input, epochs: [Double]) -> String {
    let g = r.graph
    var out = ""
    if r.history.contains(where: { $0.taskWeight != nil }) {
      let series = g.losses.map { l in (l.task, r.history.map { $0.taskWeight?[l.task] ?? .nan }) }
      out += Chart.lines(title: "loss weight of each task after each epoch", x: epochs, series: series)
    }
    if let pairs = r.history.last?.gradientCosine, !pairs.isEmpty {
      let series = pairs.indices.map { k in
        ("\(pairs[k].a)/\(pairs[k].b)", r.history.map { $0.gradientCosine?[k].cosine ?? .nan })
      }
      out += Chart.lines(
        title: "cosine of task gradients on the shared layers (mean over the epoch)", x: epochs, series: series)
    }
    guard !out.isEmpty else { return "" }
    let method = g.training.lossBalancing?.rawValue ?? "none"
    return "<h3>Loss balancing: \(esc(method))</h3>\n<div class=charts>" + out + "</div>\n"
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
    var t = "<table><tr><th class=l>task</th><th class=l>type</th><th>rows</th><th>scored</th><th>AUC</th>"
    t +=
      "<th>logloss</th><th>accuracy</th><th>positive rate</th><th>mean prediction</th><th>MSE</th><th>MAE</th></tr>\n"
    for m in ms {
      t +=
        "<tr><td class=l>\(esc(m.task))\(m.labelled ? "" : " (no label)")</td><td class=l>\(m.type)</td><td>\(m.count)</td>"
      t += "<td>\(m.scored.map(String.init) ?? "–")</td>"
      t += "<td>\(f(m.auc))</td><td>\(f(m.logloss))</td><td>\(f(m.accuracy))</td><td>\(f(m.positiveRate))</td>"
      t += "<td>\(f(m.meanPrediction))</td><td>\(f(m.mse))</td><td>\(f(m.mae))</td></tr>\n"
    }
    t += "</table>\n"
    // Per-class figures of multiclass tasks.
    for m in ms {
      guard let classes = m.perClass else { continue }
      t += "<p class=sub>\(esc(m.task)): one-vs-rest AUC and support per class"
      if let u = m.unseenClasses, u > 0 { t += "; \(u) row\(u == 1 ? "" : "s") of classes the model does not know" }
      t += "</p>\n<table><tr><th class=l>class</th><th>AUC</th><th>support</th></tr>\n"
      for c in classes { t += "<tr><td class=l>\(esc(c.name))</td><td>\(f(c.auc))</td><td>\(c.support)</td></tr>\n" }
      t += "</table>\n"
    }
    return t
  }

  /// One table: a row per gate, a column per expert any gate mixes (grouped by spec group, in
  /// graph order), each cell the gate's mean weight on that expert, blank where it cannot reach it.
  static func heatmap(_ r: ExpertReport, _ graph: Graph) -> String {
    // Columns: every expert some gate mixes, `group[i]`, by group in the order the graph stacks them.
    var groupRank: [String: Int] = [:]
    for v in graph.values {
      for n in v.expertNames ?? [] where groupRank[split(n).group] == nil {
        groupRank[split(n).group] = groupRank.count
      }
    }
    var columns: [String] = []
    for g in r.gates { for e in g.experts where !columns.contains(e) { columns.append(e) } }
    for c in columns where groupRank[split(c).group] == nil { groupRank[split(c).group] = groupRank.count }
    columns = columns.enumerated().sorted { a, b in
      let (x, y) = (split(a.element), split(b.element))
      return (groupRank[x.group]!, x.index, a.offset) < (groupRank[y.group]!, y.index, b.offset)
    }.map(\.element)
    var spans: [(group: String, count: Int)] = []
    for c in columns {
      let group = split(c).group
      if spans.last?.group == group { spans[spans.count - 1].count += 1 } else { spans.append((group, 1)) }
    }

    // Small cells only when there are many experts to fit across the page.
    var out =
      "<div class=scroll><table class=\"heat\(columns.count <= 16 ? " roomy" : "")\">\n<tr><th class=l rowspan=2>gate</th><th rowspan=2>entropy</th>"
    for s in spans { out += "<th class=g colspan=\(s.count)>\(esc(s.group))</th>" }
    out += "</tr>\n<tr>"
    // A rule before each group's first column.
    let firsts = Set(columns.indices.filter { $0 == 0 || split(columns[$0]).group != split(columns[$0 - 1]).group })
    for (k, c) in columns.enumerated() {
      out += "<th\(firsts.contains(k) ? " class=g0" : "")>\(esc(split(c).label))</th>"
    }
    out += "</tr>\n"
    for g in r.gates {
      let top = max(g.utilisation.max() ?? 1, 1e-9)
      out += "<tr class=gate><th class=l>\(esc(g.gate))</th><td>\(fixed(g.entropy, 2))</td>"
      for (k, c) in columns.enumerated() {
        let rule = firsts.contains(k) ? ["g0"] : []
        guard let i = g.experts.firstIndex(of: c) else {
          out += "<td class=\"\((["na"] + rule).joined(separator: " "))\"></td>"
          continue
        }
        let u = g.utilisation[i]
        let a = u / top
        let flag = g.unused.contains(c) ? "unused" : (g.dominant.contains(c) ? "dominant" : "")
        let classes = (flag.isEmpty ? [] : [flag]) + rule
        out +=
          "<td\(classes.isEmpty ? "" : " class=\"\(classes.joined(separator: " "))\"") title=\"\(esc(g.gate)) · \(esc(c)): \(fixed(u, 4))"
        out += flag.isEmpty ? "\"" : " (\(flag))\""
        out += " style=\"background:rgba(31,119,180,\(fixed(0.08 + 0.92 * a, 3)));color:\(a > 0.6 ? "#fff" : "#222")\">"
        // `.12`: two decimals without the leading zero keep forty experts within the page.
        let text = fixed(u, 2)
        out += (text.hasPrefix("0.") ? String(text.dropFirst()) : text) + "</td>"
      }
      out += "</tr>\n"
    }
    out += "</table></div>\n"
    // The flags in words too, for gates that have any.
    let flagged = r.gates.filter { !$0.unused.isEmpty || !$0.dominant.isEmpty }
    if !flagged.isEmpty {
      out += "<ul class=flags>"
      for g in flagged {
        var parts: [String] = []
        if !g.unused.isEmpty { parts.append("unused " + g.unused.joined(separator: ", ")) }
        if !g.dominant.isEmpty { parts.append("dominant " + g.dominant.joined(separator: ", ")) }
        out += "<li>\(esc(g.gate)): <span class=flag>\(esc(parts.joined(separator: "; ")))</span></li>"
      }
      out += "</ul>\n"
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

  /// `shared[2]` -> (shared, 2, "2"); a name without an index (a group of one) is its own column.
  static func split(_ expert: String) -> (group: String, index: Int, label: String) {
    guard let open = expert.lastIndex(of: "["), expert.hasSuffix("]"),
      let i = Int(expert[expert.index(after: open)..<expert.index(before: expert.endIndex)])
    else {
      let group = expert.hasPrefix("experts.") ? String(expert.dropFirst("experts.".count)) : expert
      return (group, 0, "0")
    }
    return (String(expert[..<open]), i, "\(i)")
  }
}

/// Line charts as inline SVG.
enum Chart {
  static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

  /// One chart of `series` over epochs `x`; a legend above the plot when there is more than one
  /// series. `cls` is the SVG's class (`loss` for the per-task loss panels).
  static func lines(
    title: String, x: [Double], series: [(String, [Double])], width: Double = 460, height: Double = 276,
    cls: String = "chart"
  ) -> String {
    let legend = series.count > 1
    let (w, h, l, b, t, rpad) = (width, height, 56.0, 34.0, legend ? 44.0 : 28.0, 12.0)
    let ys = series.flatMap(\.1).filter(\.isFinite)
    guard let lo0 = ys.min(), let hi0 = ys.max(), let x0 = x.first, let x1 = x.last else { return "" }
    let pad = max((hi0 - lo0) * 0.08, abs(hi0) * 1e-3, 1e-6)
    let (lo, hi) = (lo0 - pad, hi0 + pad)
    // Enough decimals that the five ticks differ.
    let digits = min(6, max(0, Int((-log10((hi - lo) / 4)).rounded(.up)) + 1))
    func px(_ v: Double) -> Double { x1 == x0 ? l + (w - l - rpad) / 2 : l + (v - x0) / (x1 - x0) * (w - l - rpad) }
    func py(_ v: Double) -> Double { t + (hi - v) / (hi - lo) * (h - t - b) }
    var s =
      "<svg class=\"\(cls)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"11\">"
    s += "<text x=\"8\" y=\"16\" font-size=\"12\" font-weight=\"600\">\(RunReport.esc(title))</text>"
    s += "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(w - l - rpad)\" height=\"\(h - t - b)\" fill=\"none\" stroke=\"#ccc\"/>"
    for i in 0...4 {
      let v = lo + (hi - lo) * Double(i) / 4
      s +=
        "<text x=\"\(l - 5)\" y=\"\(fixed(py(v) + 4, 1))\" text-anchor=\"end\" fill=\"#555\">\(fixed(v, digits))</text>"
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
      guard legend else { continue }
      // Legend in a row above the plot, clear of the lines.
      let lx = l + Double(k) * 110
      s += "<rect x=\"\(lx)\" y=\"24\" width=\"10\" height=\"10\" fill=\"\(c)\"/>"
      s += "<text x=\"\(lx + 14)\" y=\"33\">\(RunReport.esc(name))</text>"
    }
    return s + "</svg>"
  }
}
