import MTLGraph
import Testing

@testable import MTLRuntime

/// The gradient buffer plan: buffers are shared only between gradients whose lifetimes do not
/// overlap (the whole-model gradient checks prove the numbers), and sharing does happen.
struct GradientPlanTests {
  @Test("gradients share buffers, and no buffer holds two live gradients", arguments: ["mmoe", "cgc", "ple", "esmm"])
  func sharing(_ name: String) throws {
    let g = try Repo.graph(name)
    let plan = GradientPlan(graph: g)
    let withGrad = plan.slot.compactMap { $0 }
    #expect(plan.slotRowWidth.count < withGrad.count, "no buffer was shared")
    // Recompute lifetimes independently: born at the first write, dead at the producer.
    let steps = g.ops.count
    var producer = [Int](repeating: -1, count: g.values.count)
    for (i, op) in g.ops.enumerated() { producer[op.output] = steps - 1 - i }
    var born = [Int](repeating: Int.max, count: g.values.count)
    for l in g.losses { born[l.input] = -1 }
    for i in g.ops.indices.reversed() where !plan.skip[i] && plan.needsGrad[g.ops[i].output] {
      for v in g.ops[i].inputs where plan.needsGrad[v] { born[v] = min(born[v], steps - 1 - i) }
    }
    for a in g.values.indices {
      for b in g.values.indices where a < b {
        guard let sa = plan.slot[a], let sb = plan.slot[b], sa == sb else { continue }
        let disjoint = producer[a] < born[b] || producer[b] < born[a]
        #expect(disjoint, "\(g.values[a].name) and \(g.values[b].name) share buffer \(sa) while both live")
      }
      if let s = plan.slot[a] { #expect(plan.slotRowWidth[s] >= g.values[a].rowWidth) }
    }
  }
}
