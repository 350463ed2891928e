import Foundation
import MTLIR

/// A Graphviz picture of the architecture: features, blocks, tasks, and the edges between them.
public enum DotEmitter {
  public static func emit(_ m: IRModule) -> String {
    func id(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
    var out = "digraph \(id(m.name)) {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
    out +=
      "  \(id("features")) [shape=box, style=filled, fillcolor=\"#eeeeee\", label=\"features\\n[B,\(m.featureWidth)]\\n\(m.sparse.count) sparse, \(m.dense.count) dense\"];\n"
    for b in m.blocks {
      let label: String
      let style: String
      switch b.kind {
      case .experts(let c, let u, let a):
        label =
          "experts.\(b.name)\\n\(c) x MLP \(u.map(String.init).joined(separator: "-")) \(a.rawValue)\\n[\(c),B,\(b.outWidth)]"
        style = "shape=box3d, style=filled, fillcolor=\"#dbe9f6\""
      case .gate(let mixes, let u, _):
        label =
          "gates.\(b.name)\\nsoftmax over \(b.mixed)\(u.isEmpty ? "" : " (MLP \(u.map(String.init).joined(separator: "-")))")\\n[B,\(b.outWidth)]"
        style = "shape=trapezium, style=filled, fillcolor=\"#fde9c9\""
        for s in mixes {
          let whole = s.start == 0 && s.count == m.block(.experts(s.group))?.outExperts
          let label = whole ? "mix" : "mix \(s.start)..<\(s.start + s.count)"
          out += "  \(id("experts.\(s.group)")) -> \(id(b.qualifiedName)) [style=dashed, label=\"\(label)\"];\n"
        }
      case .tower(let u, let a):
        label = "towers.\(b.name)\\nMLP \(u.map(String.init).joined(separator: "-")) \(a.rawValue) -> 1"
        style = "shape=box, style=\"rounded,filled\", fillcolor=\"#e2f0d9\""
      }
      out += "  \(id(b.qualifiedName)) [\(style), label=\"\(label)\"];\n"
      for i in b.inputs { out += "  \(id(i.description)) -> \(id(b.qualifiedName));\n" }
    }
    for t in m.tasks {
      let lab = t.label.map { "label \($0.column)" } ?? "unlabelled"
      out +=
        "  \(id("tasks.\(t.name)")) [shape=ellipse, style=filled, fillcolor=\"#f4cccc\", label=\"\(t.name)\\n\(t.type.rawValue), \(lab)\"];\n"
      switch t.source {
      case .tower(let n): out += "  \(id("towers.\(n)")) -> \(id("tasks.\(t.name)"));\n"
      case .product(let ms):
        for x in ms { out += "  \(id("tasks.\(x)")) -> \(id("tasks.\(t.name)")) [label=\"x\"];\n" }
      }
    }
    return out + "}\n"
  }
}
