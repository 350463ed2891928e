import Foundation
import MTLCompiler
import MTLGraph
import MTLIR
import Testing

/// `data.on_bad_row` goes from the spec through the IR (printed only when not the default) into
/// the graph's pipeline.
struct DataOptionTests {
  static func spec(_ extra: String) -> [UInt8] {
    Array(
      """
      mtlc: 1
      data:
        train: ../data/adult-50.csv
        missing: ["?"]
      \(extra)
      features:
        - name: workclass
          kind: sparse
          embedding_dim: 4
        - name: age
          kind: dense
      tasks:
        income:
          type: binary
          label:
            column: income-per-year
            positive: [">50K"]
      towers:
        income:
          input: features
          units: [8]

      """.utf8)
  }

  /// Compiled as if read from Fixtures/invalid, so the data path resolves.
  static func compile(_ extra: String) throws -> (ir: String, graph: Graph) {
    let r = Compiler.compile(bytes: spec(extra), path: Fixtures.url("invalid/on-bad-row.yaml").path)
    let ir = try #require(r.ir, "\(r.rendered)")
    return (IRPrinter.print(ir), try #require(r.graph))
  }

  static func dataLine(_ ir: String) -> String {
    String(ir.split(separator: "\n").first { $0.hasPrefix("; data ") } ?? "")
  }

  @Test func defaultIsErrorAndNotPrinted() throws {
    let (ir, graph) = try Self.compile("")
    #expect(!Self.dataLine(ir).contains("on_bad_row"))
    #expect(graph.pipeline.onBadRow == .error)
    let (ir2, graph2) = try Self.compile("  on_bad_row: error")
    #expect(ir2 == ir && graph2.pipeline == graph.pipeline)
  }

  @Test func skipIsPrintedAndLowered() throws {
    let (ir, graph) = try Self.compile("  on_bad_row: skip")
    #expect(Self.dataLine(ir).hasSuffix(" split_seed=0 on_bad_row=skip"))
    #expect(graph.pipeline.onBadRow == .skip)
  }
}
