import Foundation
import MTLGraph

/// The architecture picture of a compiled graph: its blocks (features, expert groups, gates,
/// towers, tasks) and what flows between them, as SVG.
enum Architecture {
  struct Node {
    var id: String
    var label: String
    var kind: String
  }

  /// Blocks in op order, and the edges between them (deduplicated, in order), as the spec wrote
  /// them: an expert block that `merge-parallel-experts` made of several spec groups is drawn as
  /// those groups again (from its value's `expertNames`), each with its own expert count, fed by
  /// the merged block's inputs and feeding only the gates that mix one of its experts.
  static func blocks(_ g: Graph) -> (nodes: [Node], edges: [(Int, Int)]) {
    func key(_ block: String) -> String { block == "embeddings" ? "features" : block }
    var producer: [ValueID: String] = [:]
    var order: [String] = []
    var last: [String: ValueID] = [:]
    for op in g.ops {
      let b = key(op.block)
      if !order.contains(b) { order.append(b) }
      producer[op.output] = b
      last[b] = op.output
    }
    // Each block's node(s); for a stacked value, which node each of its experts belongs to.
    var nodes: [Node] = []
    var nodesOf: [String: [Int]] = [:]
    var nodeOfExpert: [ValueID: [Int]] = [:]
    for b in order {
      let v = g.values[last[b]!]
      let kind = String(b.split(separator: ".").first ?? "")
      let groups = kind == "experts" ? specGroups(v) : []
      if groups.count > 1 {
        var owner: [Int] = []
        for (name, count) in groups {
          nodesOf[b, default: []].append(nodes.count)
          owner += Array(repeating: nodes.count, count: count)
          nodes.append(Node(id: "experts.\(name)", label: "experts.\(name)\n[B,\(count),\(v.width)]", kind: kind))
        }
        // Every layer of the block stacks the same experts in the same order.
        for op in g.ops where key(op.block) == b { nodeOfExpert[op.output] = owner }
      } else {
        nodesOf[b] = [nodes.count]
        nodes.append(Node(id: b, label: "\(b)\n\(v.shapeText)", kind: kind))
      }
    }
    var edges: [(Int, Int)] = []
    func add(_ from: Int, _ to: Int) {
      if !edges.contains(where: { $0 == (from, to) }) { edges.append((from, to)) }
    }
    for op in g.ops {
      let b = key(op.block)
      for (position, v) in op.inputs.enumerated() {
        guard let p = producer[v], p != b else { continue }
        var from = nodesOf[p]!
        if op.kind == .mix, let owner = nodeOfExpert[v], let refs = op.mix {
          // Only the groups whose experts this gate mixes.
          from = from.filter { n in refs.contains { $0.input == position && owner[$0.expert] == n } }
        }
        for f in from { for t in nodesOf[b]! { add(f, t) } }
      }
    }
    // A task whose prediction is its tower's output (regression) has no op of its own: its node.
    for t in g.tasks where nodesOf["tasks.\(t.name)"] == nil {
      guard let p = producer[t.prediction], let from = nodesOf[p] else { continue }
      let n = nodes.count
      nodes.append(
        Node(id: "tasks.\(t.name)", label: "tasks.\(t.name)\n\(g.values[t.prediction].shapeText)", kind: "tasks"))
      nodesOf["tasks.\(t.name)"] = [n]
      for f in from { add(f, n) }
    }
    return (nodes, edges)
  }

  /// The spec's expert groups of a stacked value, in order, with their expert counts: the names
  /// before `[` of its `expertNames` (`income[0]`, ..., `shared[3]` -> income 8, shared 4).
  static func specGroups(_ v: Value) -> [(name: String, count: Int)] {
    guard let names = v.expertNames, names.count == v.experts else { return [] }
    var out: [(name: String, count: Int)] = []
    for n in names {
      let group = String(n[..<(n.firstIndex(of: "[") ?? n.endIndex)])
      if let l = out.last, l.name == group {
        out[out.count - 1].count += 1
      } else {
        out.append((group, 1))
      }
    }
    return out
  }

  static let fill = [
    "features": "#eeeeee", "experts": "#dbe9f6", "gates": "#fde9c9", "towers": "#e2f0d9", "tasks": "#f4cccc",
  ]

  static func svg(_ g: Graph) -> String {
    let (nodes, edges) = blocks(g)
    if let s = viaDot(nodes, edges) { return s }
    return builtin(nodes, edges)
  }

  static func dotSource(_ nodes: [Node], _ edges: [(Int, Int)]) -> String {
    func q(_ s: String) -> String {
      "\"" + s.replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
    var s =
      "digraph mtlc {\n  rankdir=BT; node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n"
    for n in nodes { s += "  \(q(n.id)) [label=\(q(n.label)), fillcolor=\"\(fill[n.kind] ?? "#ffffff")\"];\n" }
    for (a, b) in edges { s += "  \(q(nodes[a].id)) -> \(q(nodes[b].id));\n" }
    return s + "}\n"
  }

  /// Graphviz's rendering, when `dot` is installed and works; nil otherwise.
  static func viaDot(_ nodes: [Node], _ edges: [(Int, Int)]) -> String? {
    let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin").split(separator: ":")
      .map { "\($0)/dot" }
    guard let dot = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-dot-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    do {
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      let src = dir.appendingPathComponent("a.dot")
      let out = dir.appendingPathComponent("a.svg")
      try dotSource(nodes, edges).write(to: src, atomically: true, encoding: .utf8)
      let p = Process()
      p.executableURL = URL(fileURLWithPath: dot)
      p.arguments = ["-Tsvg", src.path, "-o", out.path]
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      p.waitUntilExit()
      guard p.terminationStatus == 0 else { return nil }
      let svg = try String(contentsOf: out, encoding: .utf8)
      // Inline: drop the XML prolog and DOCTYPE.
      guard let start = svg.range(of: "<svg") else { return nil }
      return String(svg[start.lowerBound...])
    } catch {
      return nil
    }
  }

  /// A layered drawing: each block one row above the deepest block it reads. An edge that skips
  /// rows passes through a narrow slot in each row it crosses (so it runs between boxes, not
  /// through them), and each row is ordered by the mean position of its neighbours (a few sweeps
  /// down and up) to keep edges short and uncrossed.
  static func builtin(_ nodes: [Node], _ edges: [(Int, Int)]) -> String {
    var layer = Array(repeating: 0, count: nodes.count)
    for _ in nodes { for (a, b) in edges where layer[b] <= layer[a] { layer[b] = layer[a] + 1 } }
    let layers = (layer.max() ?? 0) + 1
    // Items: the nodes, then one slot per edge per row it crosses. Each edge is a chain of items.
    var itemLayer = layer
    var chains: [[Int]] = []
    for (a, b) in edges {
      var chain = [a]
      for l in stride(from: layer[a] + 1, to: layer[b], by: 1) {
        chain.append(itemLayer.count)
        itemLayer.append(l)
      }
      chains.append(chain + [b])
    }
    var below = Array(repeating: [Int](), count: itemLayer.count)
    var above = below
    for c in chains {
      for (u, v) in zip(c, c.dropFirst()) {
        above[u].append(v)
        below[v].append(u)
      }
    }
    var rows = Array(repeating: [Int](), count: layers)
    for (i, l) in itemLayer.enumerated() { rows[l].append(i) }

    let (bw, bh, sw, gx, gy) = (170.0, 40.0, 12.0, 24.0, 46.0)
    func w(_ i: Int) -> Double { i < nodes.count ? bw : sw }
    func rowWidth(_ row: [Int]) -> Double { row.map(w).reduce(0, +) + gx * Double(max(row.count - 1, 0)) }
    let width = (rows.map(rowWidth).max() ?? bw) + 2 * gx
    let height = Double(layers) * (bh + gy) + gy
    /// The centre x of every item, rows centred.
    func centres() -> [Double] {
      var x = Array(repeating: 0.0, count: itemLayer.count)
      for row in rows {
        var at = (width - rowWidth(row)) / 2
        for i in row {
          x[i] = at + w(i) / 2
          at += w(i) + gx
        }
      }
      return x
    }
    for sweep in 0..<4 {
      let down = sweep % 2 == 0
      for l in down ? Array(1..<max(layers, 1)) : Array((0..<max(layers - 1, 0)).reversed()) {
        let x = centres()
        func bary(_ i: Int) -> Double {
          let n = down ? below[i] : above[i]
          return n.isEmpty ? x[i] : n.map { x[$0] }.reduce(0, +) / Double(n.count)
        }
        rows[l] = rows[l].enumerated().sorted { (bary($0.element), $0.offset) < (bary($1.element), $1.offset) }
          .map(\.element)
      }
    }
    let x = centres()
    func top(_ i: Int) -> Double { height - Double(itemLayer[i] + 1) * (bh + gy) }

    var s =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"11\">"
    s +=
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#666\"/></marker></defs>"
    // Edges leave and enter a box at points spread along its edge, in the order of where they go.
    var start = Array(repeating: 0.0, count: chains.count)
    var end = start
    for i in nodes.indices {
      for isOut in [true, false] {
        let mine = chains.indices.filter { isOut ? chains[$0][0] == i : chains[$0].last! == i }
          .sorted { a, b in
            let (ca, cb) = (chains[a], chains[b])
            return isOut ? x[ca[1]] < x[cb[1]] : x[ca[ca.count - 2]] < x[cb[cb.count - 2]]
          }
        let step = mine.count > 1 ? min(16, 0.7 * bw / Double(mine.count - 1)) : 0
        for (k, c) in mine.enumerated() {
          let at = x[i] + (Double(k) - Double(mine.count - 1) / 2) * step
          if isOut { start[c] = at } else { end[c] = at }
        }
      }
    }
    for (ci, c) in chains.enumerated() {
      // Up from the top of the source, through each slot, to the bottom of the target.
      var pts = [(start[ci], top(c[0]))]
      for d in c.dropFirst().dropLast() { pts += [(x[d], top(d) + bh), (x[d], top(d))] }
      pts.append((end[ci], top(c.last!) + bh))
      let d = pts.enumerated().map {
        "\($0.offset == 0 ? "M" : "L")\(fixed($0.element.0, 1)),\(fixed($0.element.1, 1))"
      }
      s +=
        "<path d=\"\(d.joined())\" fill=\"none\" stroke=\"#666\" marker-end=\"url(#arrow)\"/>"
    }
    for (i, n) in nodes.enumerated() {
      let (nx, ny) = (x[i] - bw / 2, top(i))
      s +=
        "<rect x=\"\(nx)\" y=\"\(ny)\" width=\"\(bw)\" height=\"\(bh)\" rx=\"6\" fill=\"\(fill[n.kind] ?? "#fff")\" stroke=\"#888\"/>"
      let lines = n.label.split(separator: "\n")
      for (k, line) in lines.enumerated() {
        s +=
          "<text x=\"\(x[i])\" y=\"\(ny + 16 + Double(k) * 14)\" text-anchor=\"middle\">\(RunReport.esc(String(line)))</text>"
      }
    }
    return s + "</svg>"
  }
}
