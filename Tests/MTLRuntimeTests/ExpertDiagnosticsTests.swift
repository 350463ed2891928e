import Foundation
import MTLData
import MTLGraph
import MTLTrain
import Testing

struct ExpertDiagnosticsTests {
  @Test("utilisation sums to one, entropy is in [0, 1], and experts keep their spec names after merging")
  func basics() throws {
    let g = try Repo.graph("cgc", batch: 128)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 1)
    let r = s.expertReport(slice(data.test, 500))
    #expect(r.gates.map(\.gate) == ["gates.income", "gates.marital"])
    for gate in r.gates {
      #expect(abs(gate.utilisation.reduce(0, +) - 1) < 1e-6)
      #expect(gate.entropy > 0 && gate.entropy <= 1)
    }
    // CGC's income gate mixes its 8 experts and the 4 shared ones, named as in the spec.
    #expect(r.gates[0].experts == (0..<8).map { "income[\($0)]" } + (0..<4).map { "shared[\($0)]" })
    #expect(r.groups.count == 1 && r.groups[0].experts == 20)
  }

  @Test("a collapsed gate is flagged dominant/unused, and copied experts are flagged alike")
  func flags() throws {
    let g = try Repo.graph("mmoe", batch: 128)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 1)
    let p = s.graph.params
    let ex = s.executor
    // Gate `income` strongly prefers expert 0: its logit column gets large positive weights.
    let gw = try #require(p.firstIndex { $0.name == "gates.income.logits.w" })
    let k = p[gw].shape[1]
    for i in 0..<p[gw].shape[0] { ex.params[gw][i * k] = 20 }
    // Expert 1 becomes a copy of expert 0 (first layer: columns of [I, E*O]; second: [E, I, O]).
    let w0 = try #require(p.firstIndex { $0.name == "experts.shared.layer0.w" })
    let b0 = try #require(p.firstIndex { $0.name == "experts.shared.layer0.b" })
    let w1 = try #require(p.firstIndex { $0.name == "experts.shared.layer1.w" })
    let b1 = try #require(p.firstIndex { $0.name == "experts.shared.layer1.b" })
    let (inW, cols) = (p[w0].shape[0], p[w0].shape[1])
    let o = cols / 4
    for i in 0..<inW { for j in 0..<o { ex.params[w0][i * cols + o + j] = ex.params[w0][i * cols + j] } }
    for j in 0..<o { ex.params[b0][o + j] = ex.params[b0][j] }
    let per = p[w1].shape[1] * p[w1].shape[2]
    for j in 0..<per { ex.params[w1][per + j] = ex.params[w1][j] }
    let o2 = p[b1].shape[1]
    for j in 0..<o2 { ex.params[b1][o2 + j] = ex.params[b1][j] }

    let r = s.expertReport(slice(data.test, 500))
    let income = try #require(r.gates.first { $0.gate == "gates.income" })
    #expect(income.dominant == ["shared[0]"])
    #expect(income.unused == ["shared[1]", "shared[2]", "shared[3]"])
    #expect(income.entropy < 0.2)
    let marital = try #require(r.gates.first { $0.gate == "gates.marital" })
    #expect(marital.dominant.isEmpty && marital.unused.isEmpty)
    let group = try #require(r.groups.first)
    #expect(group.alike == ["shared[0]~shared[1]"])
    #expect(group.maxSimilarity > 0.9999)
    #expect(r.table.contains("shared[0]~shared[1]"))
  }
}
