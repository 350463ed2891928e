import Foundation
import Testing

/// A model's identity is its content, never where its files are; damaged or hostile model files
/// and checkpoints end in a located message and the right exit code, never a signal.
@Suite(.serialized)
struct IdentityTests {
  typealias B = BinaryTests

  /// One trained checkpoint of shared_bottom for every test here (trained once).
  /// (A failed training run fails each test that needs it, not the whole test process.)
  static let training: Result<(dir: URL, ck: String), Error> = Result(catching: {
    let dir = try B.tempDir()
    let ck = dir.appendingPathComponent("ck").path
    let r = try B.mtlc(["run", "specs/shared_bottom.yaml", "--epochs", "1", "-q", "--checkpoint-dir", ck])
    guard r.status == 0 else { throw TrainingFailed(stderr: r.stderr) }
    return (dir, ck)
  })
  struct TrainingFailed: Error { var stderr: String }
  static var trained: (dir: URL, ck: String) { get throws { try training.get() } }

  func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

  @Test("the same spec by a relative path from another folder, or by its absolute path, predicts from the checkpoint")
  func samePathIndependent() throws {
    let (dir, ck) = try Self.trained
    let base = dir.appendingPathComponent("base.csv").path
    let r0 = try B.mtlc([
      "predict", "specs/shared_bottom.yaml", "--checkpoint", ck, "--data", "data/adult.csv", "-o", base,
    ])
    #expect(r0.status == 0, "\(r0.stderr)")
    let specs = B.repo.appendingPathComponent("specs")
    let fromSpecs = dir.appendingPathComponent("specs.csv").path
    let r1 = try B.mtlc(
      ["predict", "shared_bottom.yaml", "--checkpoint", ck, "--data", "../data/adult.csv", "-o", fromSpecs], cwd: specs)
    #expect(r1.status == 0, "\(r1.stderr)")
    let absolute = dir.appendingPathComponent("abs.csv").path
    let r2 = try B.mtlc([
      "predict", specs.appendingPathComponent("shared_bottom.yaml").path, "--checkpoint", ck, "--data",
      "data/adult.csv", "-o", absolute,
    ])
    #expect(r2.status == 0, "\(r2.stderr)")
    // A compiled model file in another folder: its data paths are relative to it.
    let model = dir.appendingPathComponent("m/sb.json").path
    try FileManager.default.createDirectory(
      atPath: dir.appendingPathComponent("m").path, withIntermediateDirectories: true)
    #expect(try B.mtlc(["compile", "specs/shared_bottom.yaml", "-o", model, "--no-data"]).status == 0)
    let compiled = dir.appendingPathComponent("compiled.csv").path
    let r3 = try B.mtlc(["predict", model, "--checkpoint", ck, "--data", "data/adult.csv", "-o", compiled])
    #expect(r3.status == 0, "\(r3.stderr)")
    let expected = try read(base)
    #expect(expected.count > 1000)
    for p in [fromSpecs, absolute, compiled] { #expect(try read(p) == expected, "\(p)") }
    // evaluate and export from the other folder too.
    let e = try B.mtlc(
      ["evaluate", "shared_bottom.yaml", "--checkpoint", ck, "--data", "../data/adult.csv"], cwd: specs)
    #expect(e.status == 0, "\(e.stderr)")
    let onnx = dir.appendingPathComponent("sb.onnx").path
    let x = try B.mtlc(["export", "shared_bottom.yaml", "--checkpoint", ck, "-o", onnx], cwd: specs)
    #expect(x.status == 0, "\(x.stderr)")
  }

  @Test("a run resumed by another path continues the same model")
  func resumeFromAnotherFolder() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let ck = dir.appendingPathComponent("ck").path
    #expect(try B.mtlc(["run", "specs/esmm.yaml", "--epochs", "1", "-q", "--checkpoint-dir", ck]).status == 0)
    let specs = B.repo.appendingPathComponent("specs")
    let r = try B.mtlc(["run", "esmm.yaml", "--epochs", "2", "--checkpoint-dir", ck, "--resume"], cwd: specs)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("resuming from"))
    #expect(r.stderr.contains("epoch 2/2"))
  }

  @Test("a different model is refused, naming the first field that differs")
  func differentModel() throws {
    let (dir, ck) = try Self.trained
    var spec = try read(B.repo.appendingPathComponent("specs/shared_bottom.yaml").path)
    // The bottom's second layer, 128 units wide in the reference spec.
    #expect(spec.contains("units: [128, 128]"))
    spec = spec.replacingOccurrences(of: "units: [128, 128]", with: "units: [128, 64]")
    // In a folder of the test's own, the data and include paths made absolute (nothing is written into the repo).
    spec = spec.replacingOccurrences(
      of: "../data/adult.csv", with: B.repo.appendingPathComponent("data/adult.csv").path
    ).replacingOccurrences(
      of: "{include: common/", with: "{include: \(B.repo.appendingPathComponent("specs").path)/common/")
    let other = dir.appendingPathComponent("other.yaml")
    try spec.write(to: other, atomically: true, encoding: .utf8)
    let r = try B.mtlc([
      "predict", other.path, "--checkpoint", ck, "--data", "data/adult.csv", "-o",
      dir.appendingPathComponent("x.csv").path,
    ])
    #expect(r.status == 74)
    #expect(r.stderr.contains("different model"), "\(r.stderr)")
    #expect(r.stderr.contains(".shape` is [128,128] in the checkpoint, [128,64] in this model"), "\(r.stderr)")
  }

  /// A compiled shared_bottom model as a JSON object, to damage.
  func compiled() throws -> (dir: URL, json: [String: Any]) {
    let dir = try B.tempDir()
    let path = dir.appendingPathComponent("m.json").path
    #expect(try B.mtlc(["compile", "specs/shared_bottom.yaml", "-o", path, "--no-data"]).status == 0)
    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    return (dir, json)
  }

  func write(_ json: [String: Any], _ dir: URL) throws -> String {
    let path = dir.appendingPathComponent("bad.json").path
    let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test("a hostile parameter shape or batch size in a model file exits 1 with a located message, allocating nothing")
  func hostileModelFile() throws {
    let (dir, json) = try compiled()
    defer { try? FileManager.default.removeItem(at: dir) }
    var j = json
    var params = try #require(j["params"] as? [[String: Any]])
    params[1]["shape"] = [1_048_576, 1_048_576]
    j["params"] = params
    let p1 = try write(j, dir)
    let r1 = try B.mtlc(["run", p1, "--epochs", "1", "-q"])
    #expect(r1.status == 1, "\(r1.stderr)")
    #expect(r1.stderr.contains("bad.json:"), "\(r1.stderr)")
    #expect(r1.stderr.contains("`params[1].shape`"), "\(r1.stderr)")
    #expect(r1.stderr.range(of: #"bad\.json:\d+:\d+: "#, options: .regularExpression) != nil, "\(r1.stderr)")

    j = json
    var training = try #require(j["training"] as? [String: Any])
    training["batchSize"] = 1_000_000_000
    j["training"] = training
    let r2 = try B.mtlc(["run", try write(j, dir), "--epochs", "1", "-q"])
    #expect(r2.status == 1)
    #expect(r2.stderr.contains("`training.batchSize`: batch size 1000000000 is outside 1...1000000"), "\(r2.stderr)")

    // A shape that disagrees with the op that reads it (a kernel would read past the tensor).
    j = json
    params = try #require(j["params"] as? [[String: Any]])
    let last = params.count - 1
    params[last]["shape"] = [1, 1]
    j["params"] = params
    let r3 = try B.mtlc([
      "predict", try write(j, dir), "--checkpoint", try Self.trained.ck, "--data", "x", "-o",
      dir.appendingPathComponent("p.csv").path,
    ])
    #expect(r3.status == 1)
    #expect(r3.stderr.contains("invalid model"), "\(r3.stderr)")

    // Truncated: not JSON, located.
    let whole = try Data(contentsOf: URL(fileURLWithPath: try write(json, dir)))
    let cut = dir.appendingPathComponent("cut.json")
    try whole.prefix(whole.count / 2).write(to: cut)
    let r4 = try B.mtlc(["run", cut.path])
    #expect(r4.status == 1)
    #expect(r4.stderr.contains("not a compiled mtlc model"), "\(r4.stderr)")
  }

  @Test("a model beyond the memory limit is refused with the bytes it needs")
  func memoryLimit() throws {
    let r = try B.shell(
      "MTLC_MEMORY_LIMIT=1M '\(B.repo.path)/.build/debug/mtlc' run specs/shared_bottom.yaml --epochs 1 -q")
    #expect(r.status == 1, "\(r.stderr)")
    #expect(r.stderr.contains("the model needs"), "\(r.stderr)")
    #expect(r.stderr.contains("over the limit of 1.0 MiB (MTLC_MEMORY_LIMIT)"), "\(r.stderr)")
  }

  /// CRC-32 (IEEE), to re-seal a checkpoint after damaging it.
  static func crc32(_ b: Data) -> UInt32 {
    var c: UInt32 = ~0
    for v in b {
      c ^= UInt32(v)
      for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }
    return ~c
  }

  @Test("a truncated, damaged or hostile checkpoint exits 74 with a message, never a signal")
  func hostileCheckpoint() throws {
    let (_, ck) = try Self.trained
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let bytes = try Data(contentsOf: URL(fileURLWithPath: ck + "/checkpoint.mtlc"))
    func attempt(_ data: Data) throws -> BinaryTests.Output {
      let d = dir.appendingPathComponent("ck-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
      try data.write(to: d.appendingPathComponent("checkpoint.mtlc"))
      return try B.mtlc([
        "predict", "specs/shared_bottom.yaml", "--checkpoint", d.path, "--data", "data/adult.csv", "-o",
        d.appendingPathComponent("p.csv").path,
      ])
    }
    let truncated = try attempt(bytes.prefix(bytes.count / 3))
    #expect(truncated.status == 74)
    #expect(truncated.stderr.contains("corrupt or truncated"), "\(truncated.stderr)")

    // The header claims a tensor of 2^40 floats, re-sealed with a valid CRC.
    let hlen = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
    var header = try #require(try JSONSerialization.jsonObject(with: bytes[16..<(16 + hlen)]) as? [String: Any])
    var counts = try #require(header["paramCounts"] as? [Int])
    counts[0] = 1 << 40
    header["paramCounts"] = counts
    /// The checkpoint with `header` in place of its own, re-sealed with a valid CRC.
    func sealed(_ header: [String: Any]) throws -> Data {
      let h = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
      var out = Data(bytes.prefix(12))
      withUnsafeBytes(of: UInt32(h.count).littleEndian) { out.append(contentsOf: $0) }
      out.append(h)
      out.append(bytes[(16 + hlen)..<(bytes.count - 4)])
      withUnsafeBytes(of: Self.crc32(out).littleEndian) { out.append(contentsOf: $0) }
      return out
    }
    let hostile = try attempt(try sealed(header))
    #expect(hostile.status == 74, "\(hostile.stderr)")
    #expect(
      hostile.stderr.contains("checkpoint header is invalid: a tensor has 1099511627776 floats"), "\(hostile.stderr)")

    // Table rows inflated in the fitted pipeline.
    header = try #require(try JSONSerialization.jsonObject(with: bytes[16..<(16 + hlen)]) as? [String: Any])
    var fitted = try #require(header["fitted"] as? [String: Any])
    var sparse = try #require(fitted["sparse"] as? [[String: Any]])
    sparse[0]["tableRows"] = 1 << 40
    fitted["sparse"] = sparse
    header["fitted"] = fitted
    let inflated = try attempt(try sealed(header))
    #expect(inflated.status == 74, "\(inflated.stderr)")
    #expect(inflated.stderr.contains("table rows"), "\(inflated.stderr)")
  }
}
