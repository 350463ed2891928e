import Foundation
import MTLCompiler
import MTLDiagnostics
import MTLGraph
import Testing

/// `SECTION: {include: FILE}`: sections read from other files, paths relative to the file that
/// names them, errors located in the file that holds them, cycles and depth refused.
struct IncludeTests {
  /// A folder with `files` written into it (names may hold subfolders); removed by the caller.
  static func folder(_ files: [String: String]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-include-\(UUID().uuidString)")
    for (name, text) in files {
      let url = dir.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try text.write(to: url, atomically: true, encoding: .utf8)
    }
    // The data the specs read, beside them.
    try FileManager.default.copyItem(
      at: Fixtures.url("data/adult-50.csv"), to: dir.appendingPathComponent("adult-50.csv"))
    return dir
  }

  static let features = """
    # the features, shared
    - {name: workclass, kind: sparse, embedding_dim: 4}
    - {name: age, kind: dense}

    """

  static func spec(features: String = "{include: common/features.yaml}", data: String? = nil) -> String {
    """
    mtlc: 1
    name: included
    data: \(data ?? "{train: adult-50.csv, missing: [\"?\"]}")
    features: \(features)
    tasks:
      income: {type: binary, label: {column: income-per-year, positive: [">50K"]}}
    towers:
      income: {input: features, units: [8]}

    """
  }

  /// The same model written inline.
  static let inline = """
    mtlc: 1
    name: included
    data: {train: adult-50.csv, missing: ["?"]}
    features:
      - {name: workclass, kind: sparse, embedding_dim: 4}
      - {name: age, kind: dense}
    tasks:
      income: {type: binary, label: {column: income-per-year, positive: [">50K"]}}
    towers:
      income: {input: features, units: [8]}

    """

  func compile(_ dir: URL, _ name: String = "spec.yaml") -> Compiler.Result {
    Compiler.compile(path: dir.appendingPathComponent(name).path)
  }

  @Test func anIncludedSectionCompilesToTheSameModelAsTheInlineOne() throws {
    let dir = try Self.folder([
      "spec.yaml": Self.spec(), "common/features.yaml": Self.features, "inline.yaml": Self.inline,
    ])
    defer { try? FileManager.default.removeItem(at: dir) }
    let a = compile(dir)
    let b = compile(dir, "inline.yaml")
    let ga = try #require(a.graph, "\(a.rendered)")
    let gb = try #require(b.graph, "\(b.rendered)")
    #expect(ga.pipeline == gb.pipeline)
    #expect(ga.params == gb.params)
    #expect(ga.ops.map(\.kind) == gb.ops.map(\.kind))
    // The embedding op is located in the file that declares the feature.
    let embed = try #require(ga.ops.first { $0.kind == .embed })
    #expect(embed.loc.hasSuffix("common/features.yaml:2:3"), "\(embed.loc)")
  }

  @Test func anErrorInAnIncludedFileIsLocatedThere() throws {
    let dir = try Self.folder([
      "spec.yaml": Self.spec(),
      "common/features.yaml": "- {name: workclass, kind: sprase, embedding_dim: 4}\n",
    ])
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = compile(dir)
    let d = try #require(r.diagnostics.all.first)
    #expect(d.code == .invalidValue)
    #expect(d.span?.file.hasSuffix("common/features.yaml") == true, "\(String(describing: d.span))")
    #expect(d.span?.start == SourceLoc(line: 1, column: 27))
    // Rendered with the included file's own line under it.
    #expect(r.rendered.contains("common/features.yaml:1:27"))
    #expect(r.rendered.contains("- {name: workclass, kind: sprase, embedding_dim: 4}"), "\(r.rendered)")
  }

  @Test func aMissingIncludeIsLocatedAtItsName() throws {
    let dir = try Self.folder(["spec.yaml": Self.spec(features: "{include: nowhere.yaml}")])
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = compile(dir)
    let d = try #require(r.diagnostics.all.first)
    #expect(d.code == .unreadableInclude)
    #expect(d.span?.file.hasSuffix("spec.yaml") == true)
    #expect(d.span?.start == SourceLoc(line: 4, column: 21))
    #expect(d.message.contains("nowhere.yaml"))
  }

  @Test func includeCyclesAndDeepChainsAreRefused() throws {
    let dir = try Self.folder([
      "spec.yaml": Self.spec(features: "{include: a.yaml}"),
      "a.yaml": "include: b.yaml\n", "b.yaml": "include: a.yaml\n",
      "self.yaml": Self.spec(features: "{include: self.yaml}"),
      "deep.yaml": Self.spec(features: "{include: d1.yaml}"),
    ])
    defer { try? FileManager.default.removeItem(at: dir) }
    let cycle = compile(dir)
    #expect(cycle.diagnostics.all.map(\.code) == [.includeCycle], "\(cycle.rendered)")
    #expect(cycle.diagnostics.all.first?.span?.file.hasSuffix("b.yaml") == true)
    // The spec itself is the first link of every chain.
    let selfInclude = compile(dir, "self.yaml")
    #expect(selfInclude.diagnostics.all.map(\.code) == [.includeCycle], "\(selfInclude.rendered)")
    // A chain of 12 files: past the limit of 8.
    var files: [String: String] = [:]
    for i in 1...12 { files["d\(i).yaml"] = i == 12 ? Self.features : "include: d\(i + 1).yaml\n" }
    for (name, text) in files {
      try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    let deep = compile(dir, "deep.yaml")
    #expect(deep.diagnostics.all.map(\.code) == [.includeTooDeep], "\(deep.rendered)")
  }

  @Test func includeTakesTheWholeSection() throws {
    let dir = try Self.folder([
      "spec.yaml": Self.spec(features: "{include: common/features.yaml, extra: 1}"),
      "common/features.yaml": Self.features,
      "notapath.yaml": Self.spec(features: "{include: [a, b]}"),
    ])
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = compile(dir)
    #expect(r.diagnostics.all.map(\.code) == [.conflictingKeys], "\(r.rendered)")
    let p = compile(dir, "notapath.yaml")
    #expect(p.diagnostics.all.map(\.code) == [.wrongType], "\(p.rendered)")
  }

  @Test func dataPathsAreRelativeToTheFileTheyAreWrittenIn() throws {
    let dir = try Self.folder([
      "specs/spec.yaml": Self.spec(
        features: "{include: ../common/features.yaml}", data: "{include: ../common/data.yaml}"),
      "common/features.yaml": Self.features,
      // From common/, the data is one folder up.
      "common/data.yaml": "train: ../adult-50.csv\nmissing: [\"?\"]\n",
    ])
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = compile(dir, "specs/spec.yaml")
    let g = try #require(r.graph, "\(r.rendered)")
    #expect(g.pipeline.train.hasSuffix("adult-50.csv"))
    #expect(r.diagnostics.all.isEmpty, "\(r.rendered)")
  }

  @Test func setFlagsReachIncludedSections() throws {
    let dir = try Self.folder(["spec.yaml": Self.spec(), "common/features.yaml": Self.features])
    defer { try? FileManager.default.removeItem(at: dir) }
    var o = Compiler.Options()
    o.overrides = ["features.workclass.embedding_dim=6"]
    let r = Compiler.compile(path: dir.appendingPathComponent("spec.yaml").path, options: o)
    let g = try #require(r.graph, "\(r.rendered)")
    #expect(g.pipeline.sparse.first?.embeddingDim == 6)
  }

  @Test func anIncludeTagPointsToTheIncludeKey() throws {
    let r = Compiler.compile(bytes: Array(Self.spec(features: "!include features.yaml").utf8), path: "tag.yaml")
    let d = try #require(r.diagnostics.all.first)
    #expect(d.code == .unsupportedTag)
    #expect(d.help?.contains("`SECTION: {include: FILE}`") == true, "\(String(describing: d.help))")
  }

  @Test func theReferenceSpecsShareOneFeatureFile() throws {
    for name in ["shared_bottom", "mmoe", "cgc", "ple", "esmm"] {
      let text = try String(contentsOf: Fixtures.repo.appendingPathComponent("specs/\(name).yaml"), encoding: .utf8)
      #expect(text.contains("features: {include: common/adult-features.yaml}"), "\(name)")
    }
  }
}

/// Model files are input: what the new features added to the graph is checked before it runs.
struct NewGraphRulesTests {
  static func compile(_ name: String, _ overrides: [String] = []) throws -> MTLGraph.Graph {
    var o = Compiler.Options()
    o.readData = false
    o.overrides = overrides
    let r = Compiler.compile(path: Fixtures.repo.appendingPathComponent(name).path, options: o)
    return try #require(r.graph, "\(r.rendered)")
  }

  @Test func hostileFieldsOfTheNewFeaturesAreRefused() throws {
    var g = try Self.compile("specs/aitm.yaml")
    #expect(g.check() == nil)
    // A calibration under a balancing that weighs tasks one by one.
    g.training.lossBalancing = .gradnorm
    #expect(g.check() != nil)
    g.training.lossBalancing = nil
    // Header-less columns: none, or twice the same.
    g.pipeline.columns = []
    #expect(g.check() != nil)
    g.pipeline.columns = ["a", "a"]
    #expect(g.check() != nil)
    g.pipeline.columns = nil
    // A PReLU slope that is no Float.
    var p = try Self.compile("specs/mmoe.yaml", ["towers.income.activation=prelu"])
    let i = try #require(p.params.firstIndex { $0.name.hasSuffix(".prelu.slope") })
    p.params[i].initializer = .constant(1e300)
    #expect(p.check() != nil)
    // Bags too long, or too many id columns.
    var m = try Self.compile("bench/specs/movies.yaml")
    m.pipeline.sparse[2].multi?.maxLength = 5000
    #expect(m.check() != nil)
  }

  @Test func aTaskNamedIncludeIsATask() throws {
    let text = """
      mtlc: 1
      data: {train: ../data/adult-50.csv, missing: ["?"]}
      features: [{name: age, kind: dense}]
      tasks:
        include: {type: binary, label: {column: income-per-year, positive: [">50K"]}}
      towers:
        include: {input: features, units: [4]}

      """
    let r = Compiler.compile(bytes: Array(text.utf8), path: Fixtures.url("invalid/include-task.yaml").path)
    #expect(r.graph?.tasks.map(\.name) == ["include"], "\(r.rendered)")
  }
}
