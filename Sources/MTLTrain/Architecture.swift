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

  /// Blocks in op order, and the edges between them (deduplicated, in order).
  static func blocks(_ g: Graph) -> (nodes: [Node], edges: [(Int, Int)]) {
    func key(_ block: String) -> String { block == "embeddings" ? "features" : block }
    var producer: [ValueID: String] = [:]
    var order: [String] = []
    var info: [String: (width: Int, experts: Int)] = [:]
    for op in g.ops {
      let b = key(op.block)
      if !order.contains(b) { order.append(b) }
      producer[op.output] = b
      info[b] = (g.values[op.output].width, g.values[op.output].experts)
    }
    var edges: [(Int, Int)] = []
    for op in g.ops {
      let to = order.firstIndex(of: key(op.block))!
      for v in op.inputs {
        guard let p = producer[v], p != key(op.block), let from = order.firstIndex(of: p) else { continue }
        if !edges.contains(where: { $0 == (from, to) }) { edges.append((from, to)) }
      }
    }
    let nodes = order.map { b -> Node in
      let kind = String(b.split(separator: ".").first ?? "")
      let (w, e) = info[b] ?? (0, 1)
      let shape = e > 1 ? "[B,\(e),\(w)]" : "[B,\(w)]"
      return Node(id: b, label: "\(b)\n\(shape)", kind: kind)
    }
    return (nodes, edges)
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

  /// A layered drawing: each block one row above the deepest block it reads.
  static func builtin(_ nodes: [Node], _ edges: [(Int, Int)]) -> String {
    var layer = Array(repeating: 0, count: nodes.count)
    for _ in nodes { for (a, b) in edges where layer[b] <= layer[a] { layer[b] = layer[a] + 1 } }
    let layers = (layer.max() ?? 0) + 1
    var rows = Array(repeating: [Int](), count: layers)
    for (i, l) in layer.enumerated() { rows[l].append(i) }
    let (bw, bh, gx, gy) = (170.0, 40.0, 24.0, 46.0)
    let widest = Double(rows.map(\.count).max() ?? 1)
    let width = widest * (bw + gx) + gx
    let height = Double(layers) * (bh + gy) + gy
    var pos = Array(repeating: (0.0, 0.0), count: nodes.count)
    for (l, row) in rows.enumerated() {
      let rowWidth = Double(row.count) * (bw + gx) - gx
      for (k, i) in row.enumerated() {
        let x = (width - rowWidth) / 2 + Double(k) * (bw + gx)
        let y = height - gy - Double(l + 1) * (bh + gy) + gy
        pos[i] = (x, y)
      }
    }
    var s =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"11\">"
    s +=
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#666\"/></marker></defs>"
    for (a, b) in edges {
      let (ax, ay) = pos[a]
      let (bx, by) = pos[b]
      s +=
        "<line x1=\"\(ax + bw / 2)\" y1=\"\(ay)\" x2=\"\(bx + bw / 2)\" y2=\"\(by + bh)\" stroke=\"#666\" marker-end=\"url(#arrow)\"/>"
    }
    for (i, n) in nodes.enumerated() {
      let (x, y) = pos[i]
      s +=
        "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(bw)\" height=\"\(bh)\" rx=\"6\" fill=\"\(fill[n.kind] ?? "#fff")\" stroke=\"#888\"/>"
      let lines = n.label.split(separator: "\n")
      for (k, line) in lines.enumerated() {
        s +=
          "<text x=\"\(x + bw / 2)\" y=\"\(y + 16 + Double(k) * 14)\" text-anchor=\"middle\">\(RunReport.esc(String(line)))</text>"
      }
    }
    return s + "</svg>"
  }
}
