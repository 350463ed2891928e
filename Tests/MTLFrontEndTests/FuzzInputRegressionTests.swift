import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

/// Hostile input for the readers of model files, checkpoints and CSV files.
///
/// Every file in Fixtures/fuzz-model, fuzz-checkpoint and fuzz-csv is an input found by fuzzing
/// (`scripts/fuzz --target model|checkpoint|csv`) or crafted by hand, saved byte for byte. Each
/// goes through the reader calls of its fuzz target (Sources/mtlc-fuzz/FuzzModel.swift,
/// FuzzCheckpoint.swift, FuzzCSV.swift), without sanitizers: it must be refused with the reader's
/// own error, or be accepted and then keep what the next stage relies on. Then, independent of
/// fuzzing, hand-written hostile cases per reader pin the error each gets.
///
/// `expected` pins the refusal of the fixtures whose findings were fixed; `known` lists those
/// not fixed yet.
struct FuzzInputRegressionTests {
  static func names(_ folder: String) -> [String] {
    let dir = Fixtures.url(folder).path
    return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
  }

  static func bytes(_ folder: String, _ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: Fixtures.url(folder).appendingPathComponent(name)))
  }

  /// What ends some fixtures' reading: the refusal their finding's fix gave them (the model
  /// verifier sizing embedding tables, the fitted-vocabulary check, the training-position check,
  /// `Session.preflight` refusing unbound tables; all once traps or out-of-bounds accesses).
  static let expected: [String: String] = [
    "embed-rows-fixed-list-longer.json": "needs a table of 9 rows for its fixed vocabulary",
    "embed-rows-fuzzed-fixed-table-short.json": "needs a table of 4 rows for its fixed vocabulary",
    "embed-rows-hashed-buckets.json": "needs a table of 101 rows for its 100 hash buckets",
    "embed-rows-learned-without-rowsfrom.json": "needs its table's rows bound from the vocabulary of `workclass`",
    "embed-rows-fitted-fixed-longer.mtlc": "has a vocabulary other than its fixed list",
    "steps-int-max.mtlc": "are not a training position",
    "unbound-fitted-feature-renamed.mtlc": "has no vocabulary for `workclass`; it belongs to another model",
  ]

  /// Findings reported and not fixed yet: their fixture's checks run under `withKnownIssue`, so the
  /// suite stays green while they fail and fails once they are fixed (then drop the entry).
  static let known: [String: Comment] = [:]

  /// Checks the refusal that ended a fixture's reading against `expected`.
  static func expectRefusal(_ name: String, _ refusal: String?) {
    if let want = expected[name] {
      #expect(refusal?.contains(want) == true, "\(name) should be refused with “\(want)”, not \(refusal ?? "accepted")")
    }
  }

  @Test("the fuzz fixture folders are there")
  func fixturesPresent() {
    #expect(Self.names("fuzz-model").count >= 1)
    #expect(Self.names("fuzz-checkpoint").count >= 1)
    #expect(Self.names("fuzz-csv").count >= 1)
  }

  // MARK: - Model files

  /// Every fixture model file: refused with GraphFile.Error, or sound enough to execute.
  @Test("each fuzz model file is refused cleanly or executes", arguments: names("fuzz-model"))
  func modelFixture(_ name: String) throws {
    let bytes = try Self.bytes("fuzz-model", name)
    Self.expectRefusal(name, try Self.readModel(bytes))
  }

  static let memoryBudget = Double(64 << 20)

  /// What the runtime does with a model file before and at the first step, as FuzzModel.swift:
  /// decode, bind each learned table to a few rows, check again, plan the memory and, when it is
  /// small, build the executor and run one step and one forward pass. The refusal, if any.
  @discardableResult
  static func readModel(_ bytes: [UInt8]) throws -> String? {
    let graph: Graph
    do { graph = try GraphFile.decode(bytes, path: "fixture.mtlc.json") } catch let e as GraphFile.Error {
      #expect(!e.reason.isEmpty)
      return e.description
    }
    #expect(graph.check() == nil)
    #expect(try GraphFile.decode(GraphFile.encode(graph), path: "again.mtlc.json") == graph)
    let rows = encoderRows(graph.pipeline)
    var vocabularyRows: [String: Int] = [:]
    for (s, f) in graph.pipeline.sparse.enumerated() where vocabularyRows[f.name] == nil {
      vocabularyRows[f.name] = rows[s]
    }
    let bound = graph.bound(vocabularyRows: vocabularyRows)
    if let problem = bound.check() {
      #expect(!problem.message.isEmpty)  // `Session.preflight` refuses it with this
      return problem.description
    }
    try #require(bound.isBound, "a bound graph that passes its check has an unbound table")
    if MemoryPlan.bytes(graph: bound, maxBatch: graph.training.batchSize, threads: 1) <= memoryBudget {
      try requireTables(bound, sparseRows: rows)
      let executor = Executor(graph: bound, maxBatch: bound.training.batchSize, threads: 1)
      executor.initialize(seed: 1)
      step(executor, sparseRows: rows)
    }
    return nil
  }

  /// Each sparse slot's id range as the data encoder produces it (FuzzModel.swift).
  static func encoderRows(_ p: Pipeline) -> [Int] {
    p.sparse.enumerated().map { s, f in
      switch f.vocabulary {
      case .learned: return 3 + s % 4
      case .fixed(let list): return 1 + list.count
      case .hashed(let buckets): return 1 + buckets
      }
    }
  }

  /// Every table an embed op reads holds every id of its slot.
  static func requireTables(_ g: Graph, sparseRows: [Int]) throws {
    for (i, op) in g.ops.enumerated() where op.kind == .embed {
      let slot = try #require(op.slot)
      let table = g.params[try #require(op.params.first)]
      try #require(
        table.shape[0] >= sparseRows[slot],
        "ops[\(i)] embeds ids 0..<\(sparseRows[slot]) of `\(g.pipeline.sparse[slot].name)` from `\(table.name)` of \(table.shape[0]) rows"
      )
    }
  }

  static func step(_ executor: Executor, sparseRows: [Int]) {
    let g = executor.graph
    let S = g.pipeline.sparse.count
    let D = g.pipeline.dense.count
    let L = g.pipeline.labels.count
    executor.setBatch(rows: min(executor.maxBatch, 64)) { first, count, sparse, dense, labels in
      for i in 0..<count {
        let r = first + i
        for s in 0..<S {
          let n = max(sparseRows[s], 1)
          sparse[i * S + s] = Int32(truncatingIfNeeded: r == 0 ? n - 1 : (r * 7 + s) % n)
        }
        for j in 0..<D { dense[i * D + j] = Float((r + j) % 5) * 0.25 - 0.5 }
        for j in 0..<L { labels[i * L + j] = Float((r + j) % 2) }
      }
    }
    _ = executor.step()
    executor.forward()
  }

  // MARK: - Checkpoints

  /// The checkpoint target's model: fuzz/seeds/tiny.yaml (the spec FuzzCheckpoint.swift holds).
  static func tinyModel(_ edit: (String) -> String = { $0 }) throws -> Graph {
    let url = Fixtures.repo.appendingPathComponent("fuzz/seeds/tiny.yaml")
    var options = Compiler.Options()
    options.readData = false
    let text = edit(try String(contentsOf: url, encoding: .utf8))
    let r = Compiler.compile(bytes: Array(text.utf8), path: "fuzz/seeds/tiny.yaml", options: options)
    return try #require(r.graph, "fuzz/seeds/tiny.yaml does not compile:\n\(r.rendered)")
  }

  static func seedCheckpoint() throws -> [UInt8] {
    [UInt8](try Data(contentsOf: Fixtures.repo.appendingPathComponent("fuzz/seeds/checkpoint/tiny-epoch1.mtlc")))
  }

  @Test("each fuzz checkpoint is refused cleanly or restores and trains a step", arguments: names("fuzz-checkpoint"))
  func checkpointFixture(_ name: String) throws {
    let bytes = try Self.bytes("fuzz-checkpoint", name)
    let model = try Self.tinyModel()
    let run = {
      // As the harness: the file as it is, then with a valid CRC trailer.
      try Self.restore(bytes, into: model)
      Self.expectRefusal(name, try Self.restore(Self.withValidCRC(bytes), into: model))
    }
    if let known = Self.known[name] { withKnownIssue(known) { try run() } } else { try run() }
  }

  static func withValidCRC(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.count >= 8 else { return bytes }
    var b = bytes
    let body = b.count - 4
    let crc = Checksum.crc32(b[0..<body])
    for k in 0..<4 { b[body + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
    return b
  }

  /// What `Inference.restore` does (predict, evaluate, export), on one thread, then a step on data
  /// encoded with the checkpoint's fitted pipeline and a checkpoint written again. The refusal,
  /// if any.
  @discardableResult
  static func restore(_ bytes: [UInt8], into model: Graph) throws -> String? {
    let c: Checkpoint
    do { c = try Checkpoint.decode(bytes, path: "fixture.mtlc") } catch let e as CheckpointError {
      #expect(!e.reason.isEmpty)
      return e.description
    }
    do { try Session.preflight(graph: model, fitted: c.fitted, threads: 1) } catch let p as GraphProblem {
      #expect(!p.message.isEmpty)
      return p.description
    } catch let e as MemoryPlan.TooLarge {
      #expect(e.bytes > 0)
      return e.description
    }
    let bound = model.bound(vocabularyRows: c.fitted.vocabularySizes)
    try #require(bound.isBound, "preflight passed tables left unbound by the fitted pipeline")
    let session = Session(graph: model, fitted: c.fitted, seed: c.seed, threads: 1)
    do { try session.restore(c) } catch let e as CheckpointError {
      #expect(!e.reason.isEmpty)
      return e.description
    }
    let rows = c.fitted.sparse.map(\.tableRows)
    try requireTables(session.graph, sparseRows: rows)
    step(session.executor, sparseRows: rows)
    _ = try Checkpoint.decode(session.checkpoint().encode(), path: "again.mtlc")
    return nil
  }

  // MARK: - CSV files

  @Test("each fuzz CSV file parses cleanly or fails with a DataError", arguments: names("fuzz-csv"))
  func csvFixture(_ name: String) throws {
    let bytes = try Self.bytes("fuzz-csv", name)
    for delimiter in [",", [";", "\t", " ", "|"][bytes.count % 4]] {
      for policy in BadRowPolicy.allCases { try Self.readCSV(bytes, delimiter: delimiter, policy: policy) }
    }
  }

  /// Parse, drop bad rows under `skip`, fit a pipeline derived from the table and encode, as
  /// FuzzCSV.swift does (a shorter pipeline: sparse text columns, dense number columns, the last
  /// column the label).
  static func readCSV(_ bytes: [UInt8], delimiter: String, policy: BadRowPolicy) throws {
    var t: RawTable
    do { t = try RawTable.parse(bytes, path: "fixture.csv", delimiter: delimiter, onBadRow: policy) } catch let e
      as DataError
    {
      #expect(!e.message.isEmpty)
      return
    }
    let last = t.columnCount - 1
    var sparse: [SparseFeature] = []
    var dense: [DenseFeature] = []
    for c in 0..<min(last, 8) {
      let first = t.cell(row: 0, column: c)
      if Double(first) != nil {
        dense.append(DenseFeature(name: "f\(c)", column: t.header[c], normalize: .minmax, missing: ["?"]))
      } else {
        let vocabulary: Vocabulary = c % 2 == 0 ? .learned(minCount: 1) : .hashed(buckets: 5)
        sparse.append(
          SparseFeature(name: "f\(c)", column: t.header[c], vocabulary: vocabulary, missing: ["?"], embeddingDim: 2))
      }
    }
    let firstLabel = t.cell(row: 0, column: last)
    let rule: LabelRule = Double(firstLabel) != nil ? .value : .positive([firstLabel])
    let p = Pipeline(
      train: "fixture.csv", test: nil, testFraction: 0.25, splitSeed: 1, delimiter: delimiter, sparse: sparse,
      dense: dense, labels: [LabelColumn(task: "t", column: t.header[last], rule: rule)], onBadRow: policy)
    do {
      if policy == .skip { t = try t.droppingBadRows(for: p) }
      let (train, test) = DataSplit.holdout(count: t.rowCount, testFraction: 0.25, seed: 1)
      let fitted = try FittedPipeline.fit(p, table: t, rows: train)
      #expect(fitted.check() == nil)
      let d = try fitted.encode(table: t, rows: test + train)
      #expect(d.count == t.rowCount)
      for (k, id) in d.sparse.enumerated() {
        #expect(id >= 0 && Int(id) < fitted.sparse[k % fitted.sparse.count].tableRows)
      }
      #expect(d.dense.allSatisfy(\.isFinite) && d.labels.allSatisfy(\.isFinite))
    } catch let e as DataError {
      #expect(!e.message.isEmpty)
    }
  }

  // MARK: - Hand-written hostile model files

  /// The tiny seed model (fuzz/seeds/model/tiny.json) as JSON, edited, as bytes.
  static func editedModel(_ edit: (inout [String: Any]) throws -> Void) throws -> [UInt8] {
    let url = Fixtures.repo.appendingPathComponent("fuzz/seeds/model/tiny.json")
    var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    try edit(&json)
    return [UInt8](try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]))
  }

  static func modelError(_ bytes: [UInt8]) throws -> GraphFile.Error {
    try #require(throws: GraphFile.Error.self) { _ = try GraphFile.decode(bytes, path: "hostile.mtlc.json") }
  }

  /// Edits entry `i` of the array at `key`.
  static func editEntry(_ json: inout [String: Any], _ key: String, _ i: Int, _ edit: (inout [String: Any]) -> Void)
    throws
  {
    var list = try #require(json[key] as? [[String: Any]])
    edit(&list[i])
    json[key] = list
  }

  @Test("the seed model file reads back and executes")
  func seedModelExecutes() throws {
    let bytes = [UInt8](try Data(contentsOf: Fixtures.repo.appendingPathComponent("fuzz/seeds/model/tiny.json")))
    _ = try GraphFile.decode(bytes, path: "tiny.json")
    try Self.readModel(bytes)
  }

  @Test("a parameter of shape [1048576, 1048576] is refused at its place in the file")
  func hugeParameter() throws {
    let bytes = try Self.editedModel { try Self.editEntry(&$0, "params", 3) { $0["shape"] = [1_048_576, 1_048_576] } }
    let e = try Self.modelError(bytes)
    #expect(e.description.contains("params[3]"), "\(e)")
    #expect(e.description.contains("1048576x1048576 floats, over the limit"), "\(e)")
    #expect(e.path.hasPrefix("hostile.mtlc.json:"), "located at a line: \(e)")
  }

  @Test("a batch size of 0 is refused")
  func zeroBatch() throws {
    let bytes = try Self.editedModel { json in
      var t = try #require(json["training"] as? [String: Any])
      t["batchSize"] = 0
      json["training"] = t
    }
    let e = try Self.modelError(bytes)
    #expect(e.description.contains("training.batchSize") && e.description.contains("batch size 0"), "\(e)")
  }

  @Test("an op reading a value never defined is refused")
  func undefinedValue() throws {
    let bytes = try Self.editedModel { try Self.editEntry(&$0, "ops", 5) { $0["inputs"] = [999] } }
    let e = try Self.modelError(bytes)
    #expect(e.description.contains("ops[5]") && e.description.contains("reads value 999"), "\(e)")
  }

  @Test("a value with 5000 experts is refused")
  func tooManyExperts() throws {
    let bytes = try Self.editedModel { try Self.editEntry(&$0, "values", 0) { $0["experts"] = 5000 } }
    let e = try Self.modelError(bytes)
    #expect(e.description.contains("values[0]") && e.description.contains("outside the limits of a row"), "\(e)")
  }

  @Test("text that is not JSON, another format and another version are refused with what they are")
  func notAModel() throws {
    let notJSON = try Self.modelError(Array("{\"format\": \"mtlc-graph\",\n  \"version\": 1,\n  oops".utf8))
    #expect(notJSON.reason.contains("not JSON"), "\(notJSON)")
    let other = try Self.modelError(try Self.editedModel { $0["format"] = "onnx" })
    #expect(other.reason.contains("format is `onnx`"), "\(other)")
    let version = try Self.modelError(try Self.editedModel { $0["version"] = 2 })
    #expect(version.reason.contains("model format version 2 is not supported"), "\(version)")
  }

  // MARK: - Hand-written hostile checkpoints

  /// The seed checkpoint with its JSON header edited, the CRC made valid again.
  static func editedCheckpoint(_ edit: (inout [String: Any]) throws -> Void) throws -> [UInt8] {
    let b = try seedCheckpoint()
    let hlen = Int(b[12]) | Int(b[13]) << 8 | Int(b[14]) << 16 | Int(b[15]) << 24
    var header = try #require(try JSONSerialization.jsonObject(with: Data(b[16..<(16 + hlen)])) as? [String: Any])
    try edit(&header)
    let h = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
    var out = Array(b[0..<12])
    for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: h.count >> (8 * k))) }
    out += h
    out += b[(16 + hlen)...]
    return withValidCRC(out)
  }

  static func checkpointError(_ bytes: [UInt8]) throws -> CheckpointError {
    try #require(throws: CheckpointError.self) { _ = try Checkpoint.decode(bytes, path: "hostile.mtlc") }
  }

  @Test("the seed checkpoint restores into its model and trains a step")
  func seedCheckpointRestores() throws {
    let c = try Checkpoint.decode(try Self.seedCheckpoint(), path: "tiny-epoch1.mtlc")
    #expect(c.epoch == 1)
    let model = try Self.tinyModel()
    let session = Session(graph: model, fitted: c.fitted, seed: c.seed, threads: 1)
    try session.restore(c)
    #expect(session.epochsDone == 1)
    try Self.restore(try Self.seedCheckpoint(), into: model)
  }

  @Test("a header claiming a tensor of 2^40 floats, with a valid CRC, is refused before allocating")
  func hugeTensorClaim() throws {
    let bytes = try Self.editedCheckpoint { h in
      var counts = try #require(h["paramCounts"] as? [Int])
      counts[0] = 1 << 40
      h["paramCounts"] = counts
    }
    let e = try Self.checkpointError(bytes)
    #expect(e.reason.contains("floats") || e.reason.contains("truncated"), "\(e)")
  }

  @Test("a header claiming one float more than the file holds is refused as truncated")
  func oneFloatMore() throws {
    let bytes = try Self.editedCheckpoint { h in
      var counts = try #require(h["paramCounts"] as? [Int])
      counts[0] += 1
      h["paramCounts"] = counts
    }
    #expect(try Self.checkpointError(bytes).reason.contains("checkpoint data is truncated"))
  }

  @Test("thread count 0 and a negative epoch are refused")
  func badPosition() throws {
    let threads = try Self.checkpointError(try Self.editedCheckpoint { $0["threads"] = 0 })
    #expect(threads.reason.contains("thread count 0"), "\(threads)")
    let epoch = try Self.checkpointError(try Self.editedCheckpoint { $0["epoch"] = -1 })
    #expect(epoch.reason.contains("not a training position"), "\(epoch)")
  }

  @Test("a flipped byte, bad magic, another version and an overlong header are refused")
  func damagedFile() throws {
    var flipped = try Self.seedCheckpoint()
    flipped[flipped.count / 2] ^= 0x40
    #expect(try Self.checkpointError(flipped).reason.contains("checksum mismatch"))

    var magic = try Self.seedCheckpoint()
    magic[0] = UInt8(ascii: "X")
    #expect(try Self.checkpointError(magic).reason.contains("bad magic bytes"))

    var version = try Self.seedCheckpoint()
    version[8] = 7
    #expect(try Self.checkpointError(Self.withValidCRC(version)).reason.contains("format version 7 is not supported"))

    var header = try Self.seedCheckpoint()
    header[15] = 0x7F
    #expect(try Self.checkpointError(Self.withValidCRC(header)).reason.contains("checkpoint header is truncated"))

    let trailing = try Self.seedCheckpoint()
    let extra = Array(trailing.dropLast(4)) + [0, 0, 0, 0] + [0, 0, 0, 0]
    #expect(try Self.checkpointError(Self.withValidCRC(extra)).reason.contains("unexpected trailing bytes"))
  }

  @Test("a checkpoint restored into another model names the difference")
  func otherModel() throws {
    let c = try Checkpoint.decode(try Self.seedCheckpoint(), path: "tiny-epoch1.mtlc")
    let other = try Self.tinyModel {
      $0.replacingOccurrences(of: "units: [4], activation", with: "units: [5], activation")
    }
    try Session.preflight(graph: other, fitted: c.fitted, threads: 1)
    let session = Session(graph: other, fitted: c.fitted, seed: c.seed, threads: 1)
    let e = try #require(throws: CheckpointError.self) { try session.restore(c) }
    #expect(e.reason.contains("written by a different model"), "\(e)")
  }

  @Test("a checkpoint whose model names a feature differently is refused before the executor is built")
  func renamedFeature() throws {
    let c = try Checkpoint.decode(try Self.seedCheckpoint(), path: "tiny-epoch1.mtlc")
    let renamed = try Self.tinyModel {
      $0.replacingOccurrences(of: "{name: workclass, kind: sparse", with: "{name: job, column: workclass, kind: sparse")
    }
    let p = try #require(throws: GraphProblem.self) {
      try Session.preflight(graph: renamed, fitted: c.fitted, threads: 1)
    }
    #expect(p.message.contains("no vocabulary for `job`"), "\(p)")
  }

  // MARK: - Hand-written hostile CSV files

  static func csvError(_ text: [UInt8], policy: BadRowPolicy = .error) throws -> DataError {
    try #require(throws: DataError.self) { _ = try RawTable.parse(text, path: "t.csv", onBadRow: policy) }
  }

  @Test("a NUL byte in a cell is an error naming its row and column, or a skipped row")
  func nulCell() throws {
    let text = Array("a,b,c\n1,x".utf8) + [0] + Array("y,3\n4,5,6\n".utf8)
    let e = try Self.csvError(text)
    #expect(e.row == 2 && e.column == "b" && e.message == "the cell contains a NUL byte", "\(e)")
    let t = try RawTable.parse(text, path: "t.csv", onBadRow: .skip)
    #expect(t.rowCount == 1 && t.skipped.count == 1)
    #expect(t.skipped.description.contains("a NUL byte"), "\(t.skipped)")
  }

  @Test("invalid UTF-8, a ragged row and text after a closing quote name their line")
  func rowLevel() throws {
    let utf8 = try Self.csvError(Array("a,b\n1,ok\n2,".utf8) + [0xFF, 0xFE] + Array("\n".utf8))
    #expect(utf8.row == 3 && utf8.column == "b" && utf8.message.contains("invalid UTF-8 at byte 1"), "\(utf8)")
    let ragged = try Self.csvError(Array("a,b,c\n1,2\n".utf8))
    #expect(ragged.row == 2 && ragged.message == "expected 3 fields, got 2", "\(ragged)")
    let quote = try Self.csvError(Array("a,b\n\"x\"y,2\n".utf8))
    #expect(quote.row == 2 && quote.message.contains("after the closing quote"), "\(quote)")
  }

  @Test("file-level problems are errors under both policies")
  func fileLevel() throws {
    for policy in BadRowPolicy.allCases {
      #expect(try Self.csvError([], policy: policy).message == "the file is empty")
      let dup = try Self.csvError(Array("a,a\n1,2\n".utf8), policy: policy)
      #expect(dup.row == 1 && dup.message.contains("duplicate column name `a`"), "\(dup)")
      let header = try Self.csvError(Array("a".utf8) + [0] + Array(",b\n1,2\n".utf8), policy: policy)
      #expect(header.message.contains("header field 1: the cell contains a NUL byte"), "\(header)")
      let open = try Self.csvError(Array("a,b\n1,\"never closed\n2,3\n".utf8), policy: policy)
      #expect(open.message.contains("unterminated quoted field"), "\(open)")
      let noRows = try Self.csvError(Array("a,b\n\n\r\n".utf8), policy: policy)
      #expect(noRows.message.contains("no data rows"), "\(noRows)")
    }
    let allBad = try Self.csvError(Array("a,b\n1\n2\n".utf8), policy: .skip)
    #expect(allBad.message.contains("no data rows left after skipping 2 bad rows"), "\(allBad)")
  }

  @Test("a dense cell out of the range of a Double is an error at its cell when fitting")
  func numberOutOfRange() throws {
    let t = try RawTable.parse(Array("x,y\n1,0\n1e999,1\n".utf8), path: "t.csv")
    let p = Pipeline(
      train: "t.csv", test: nil, testFraction: 0, splitSeed: 1,
      sparse: [], dense: [DenseFeature(name: "x", column: "x", normalize: .minmax, missing: [])],
      labels: [LabelColumn(task: "t", column: "y", rule: .threshold(0.5))])
    let e = try #require(throws: DataError.self) { _ = try FittedPipeline.fit(p, table: t, rows: [0, 1]) }
    #expect(e.row == 3 && e.column == "x" && e.message.contains("out of the range of a Double"), "\(e)")
  }
}
