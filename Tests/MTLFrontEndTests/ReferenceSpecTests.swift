import Foundation
import MTLCompiler
import MTLDiagnostics
import MTLGraph
import MTLIR
import Testing

/// The reference specs validate, compile, and print exactly their golden IR.
/// To update a golden file after an intended change: `UPDATE_GOLDEN=1 swift test`.
struct ReferenceSpecTests {
  /// Names in specs/, or paths under the repo (bench/specs/movies: multi-valued features and a
  /// shared table).
  static let specs = ["shared_bottom", "mmoe", "cgc", "ple", "esmm", "mixed_mmoe", "aitm", "bench/specs/movies"]

  /// Compiles with the repo root as the working directory, as the README does.
  static func compile(_ name: String) -> Compiler.Result {
    var o = Compiler.Options()
    o.workingDirectory = Fixtures.repo.path
    return Compiler.compile(path: name.contains("/") ? "\(name).yaml" : "specs/\(name).yaml", options: o)
  }

  @Test("reference spec compiles cleanly and matches its golden IR", arguments: specs)
  func golden(_ name: String) throws {
    let r = Self.compile(name)
    #expect(r.diagnostics.all.isEmpty, "\(r.rendered)")
    let ir = try #require(r.ir)
    #expect(IRVerifier.verify(ir).isEmpty)
    let text = IRPrinter.print(ir)
    let golden = Fixtures.url("golden/\(name.split(separator: "/").last!).ir")
    if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
      try text.write(to: golden, atomically: true, encoding: .utf8)
      Issue.record("golden file rewritten: \(golden.lastPathComponent) (run again without UPDATE_GOLDEN)")
    }
    let expected = try String(contentsOf: golden, encoding: .utf8)
    #expect(text == expected)
  }

  /// DeepCTR counts 42,110 (Shared-Bottom), 10,702 (MMOE) and 131,854 (CGC) parameters with
  /// vocabularies of every distinct value including `?`. mtlc reserves row 0 of each table for
  /// missing-or-unseen values and treats `?` as missing, so the four columns without `?`
  /// (education, relationship, race, sex) gain one row each: 4 rows x 4 = 16 more parameters.
  @Test(
    "parameter counts agree with DeepCTR's",
    arguments: [("shared_bottom", 42_110), ("mmoe", 10_702), ("cgc", 131_854)])
  func deepCTRCounts(_ name: String, _ deepctr: Int) throws {
    let r = Self.compile(name)
    let g = try #require(r.boundGraph)
    #expect(g.isBound)
    #expect(g.params.reduce(0) { $0 + $1.count } == deepctr + 16)
  }

  /// A multiclass task's classes are learned from the training rows: the model file leaves K open
  /// in the task's tower and values, and binding to the fitted classes closes it.
  @Test("mixed_mmoe leaves the class count open until the classes are fitted")
  func learnedClasses() throws {
    let r = Self.compile("mixed_mmoe")
    let g = try #require(r.graph)
    let w = try #require(g.params.first { $0.name == "towers.relationship.logit.w" })
    #expect(w.shape == [8, 0] && w.colsFrom == "relationship" && w.shapeText == "[8,K(relationship)]")
    let task = try #require(g.tasks.first { $0.name == "relationship" })
    #expect(task.type == .multiclass && task.classes == [] && g.values[task.prediction].width == 0)
    #expect(!g.isBound && g.verify() == nil)
    let bound = try #require(r.boundGraph)
    #expect(bound.isBound && bound.check() == nil)
    let bt = try #require(bound.tasks.first { $0.name == "relationship" })
    #expect(bt.classes == ["Husband", "Not-in-family", "Other-relative", "Own-child", "Unmarried", "Wife"])
    #expect(bound.params.first { $0.name == "towers.relationship.logit.w" }?.shape == [8, 6])
    #expect(bound.values[bt.prediction].width == 6 && bound.values[bt.logit!].width == 6)
    // The loss kinds follow the task types.
    #expect(g.losses.map(\.kind) == [.bceLogits, .softmaxCrossEntropy, .mse])
    #expect(g.pipeline.labels.map(\.normalize) == [nil, nil, .standard])
  }

  @Test("compiled graph files round-trip and are byte-for-byte deterministic", arguments: specs)
  func roundTrip(_ name: String) throws {
    let a = try #require(Self.compile(name).graph)
    let b = try #require(Self.compile(name).graph)
    let bytes = GraphFile.encode(a)
    #expect(bytes == GraphFile.encode(b))
    let back = try GraphFile.decode(bytes, path: "x")
    #expect(back == a)
  }

  @Test("every pass keeps the IR valid and the pipeline is stable")
  func passesVerify() throws {
    for name in Self.specs {
      let file = name.contains("/") ? "\(name).yaml" : "specs/\(name).yaml"
      let front = Compiler.frontEnd(path: Fixtures.repo.appendingPathComponent(file).path)
      var ir = try #require(front.ir)
      let trace = try Passes.run(on: &ir, verify: true, dump: true)
      #expect(trace.map(\.name) == Passes.default.map(\.name))
      // Running the pipeline again changes nothing.
      let again = try Passes.run(on: &ir, verify: true)
      #expect(again.allSatisfy { !$0.changed })
    }
  }
}
