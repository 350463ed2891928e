import Foundation
import MTLCompiler
import MTLIR
import Testing

/// Every pass, IR text in, IR text out: the IR after each pass of the pipeline is pinned in
/// Fixtures/passes/<spec>.<n>-<pass>.ir (`UPDATE_GOLDEN=1 swift test` rewrites them).
struct PassTests {
  static let cases: [(String, String)] = [
    ("cgc", "specs/cgc.yaml"), ("ple", "specs/ple.yaml"),
    ("unused-and-parallel", "Tests/MTLFrontEndTests/Fixtures/passes/unused-and-parallel.yaml"),
  ]

  @Test("the IR after each pass matches its golden file", arguments: cases.map(\.0))
  func goldenAfterEachPass(_ name: String) throws {
    let path = Self.cases.first { $0.0 == name }!.1
    var o = Compiler.Options()
    o.workingDirectory = Fixtures.repo.path
    let front = Compiler.frontEnd(path: path, options: o)
    var ir = try #require(front.ir, "\(front.rendered)")
    let trace = try Passes.run(on: &ir, verify: true, dump: true)
    for (n, t) in trace.enumerated() {
      let golden = Fixtures.url("passes/\(name).\(n + 1)-\(t.name).ir")
      if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
        try t.ir.write(to: golden, atomically: true, encoding: .utf8)
        Issue.record("golden file rewritten: \(golden.lastPathComponent) (run again without UPDATE_GOLDEN)")
      }
      #expect(t.ir == (try String(contentsOf: golden, encoding: .utf8)), "after \(t.name)")
    }
  }

  @Test("merge-parallel-experts merges groups with one input and shape, and only those")
  func mergeRules() throws {
    let front = Compiler.frontEnd(
      path: Fixtures.url("passes/unused-and-parallel.yaml").path)
    var ir = try #require(front.ir)
    _ = DropUnusedBlocks().run(&ir)
    #expect(MergeParallelExperts().run(&ir))
    let groups = ir.blocks.filter { if case .experts = $0.kind { return true } else { return false } }.map(\.name)
    #expect(groups == ["a+b", "other"])
    guard case .gate(let mixes, _, _) = try #require(ir.block(.gate("marital"))).kind else {
      Issue.record("`gates.marital` is not a gate")
      return
    }
    // b (experts 2..<5 of a+b) then a (0..<2), in the gate's own order.
    #expect(mixes.map(\.description) == ["%experts.a+b[2..<5]", "%experts.a+b[0..<2]"])
    #expect(IRVerifier.verify(ir).isEmpty)
    // Idempotent.
    #expect(!MergeParallelExperts().run(&ir))
  }
}
