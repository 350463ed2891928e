import Foundation
import Testing

/// The built `mtlc` binary, end to end: exit codes, what it prints, the files it writes.
struct BinaryTests {
  static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

  struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs the debug binary (built by `swift build --build-tests`) from the repo root.
  static func mtlc(_ args: [String], cwd: URL = repo, environment: [String: String] = [:]) throws -> Output {
    let bin = repo.appendingPathComponent(".build/debug/mtlc")
    guard FileManager.default.isExecutableFile(atPath: bin.path) else {
      throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "build mtlc first: swift build"])
    }
    return try run(bin, args, cwd: cwd, extra: environment)
  }

  /// Runs a shell command line (for `ulimit`) from the repo root.
  static func shell(_ command: String) throws -> Output {
    try run(URL(fileURLWithPath: "/bin/bash"), ["-c", command])
  }

  /// Runs a script of `scripts/` with bash from the repo root, with `environment` added.
  static func script(_ name: String, environment: [String: String] = [:]) throws -> Output {
    try run(
      URL(fileURLWithPath: "/bin/bash"), [repo.appendingPathComponent("scripts/\(name)").path], extra: environment)
  }

  /// Runs `executable` and waits: no data cache and the machine's memory limit (never a user's
  /// settings), `extra` added to the environment. Output goes to files, not pipes, so a chatty
  /// process can never stall on a full pipe.
  static func run(_ executable: URL, _ args: [String], cwd: URL = repo, extra: [String: String] = [:]) throws -> Output
  {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    p.currentDirectoryURL = cwd
    var env = ProcessInfo.processInfo.environment
    env["MTLC_CACHE_DIR"] = "off"
    env["MTLC_MEMORY_LIMIT"] = nil
    for (k, v) in extra { env[k] = v }
    p.environment = env
    let dir = try tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("stdout")
    let errURL = dir.appendingPathComponent("stderr")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    p.standardOutput = out
    p.standardError = err
    try p.run()
    p.waitUntilExit()
    try out.close()
    try err.close()
    return Output(
      status: p.terminationStatus, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
  }

  /// The metrics file without its timings (which differ run to run).
  static func metrics(_ path: URL) throws -> NSDictionary {
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
    var train = json["train"] as! [String: Any]
    train["seconds"] = nil
    train["samples_per_second"] = nil
    train["history"] = (train["history"] as! [[String: Any]]).map { e in
      var e = e
      (e["seconds"], e["samples_per_second"]) = (nil, nil)
      return e
    }
    json["train"] = train
    return json as NSDictionary
  }

  static func tempDir() throws -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
  }

  @Test("validate: exit 0 on every reference spec", arguments: ["shared_bottom", "mmoe", "cgc", "ple", "esmm"])
  func validateReference(_ name: String) throws {
    let r = try Self.mtlc(["validate", "specs/\(name).yaml"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("specs/\(name).yaml: valid"))
    #expect(r.stderr.isEmpty)
  }

  @Test("validate: a spec error exits 1 with the pinned rendering")
  func validateTypo() throws {
    let r = try Self.mtlc(["validate", "Tests/EndToEndTests/Fixtures/typo.yaml"])
    #expect(r.status == 1)
    #expect(r.stdout.isEmpty)
    let expected = try String(contentsOf: Self.fixtures.appendingPathComponent("typo.stderr"), encoding: .utf8)
    #expect(r.stderr == expected)
  }

  @Test(
    "usage errors exit 64",
    arguments: [
      [String](), ["compile"], ["frobnicate"], ["run", "specs/mmoe.yaml", "--epochs", "0"],
      ["compile", "specs/mmoe.yaml", "--emit", "pdf"],
    ])
  func usage(_ args: [String]) throws {
    let r = try Self.mtlc(args)
    #expect(r.status == 64, "\(args): \(r.status) \(r.stderr)")
  }

  @Test("a missing spec file exits 1 and says why")
  func missingSpec() throws {
    let r = try Self.mtlc(["validate", "no/such.yaml"])
    #expect(r.status == 1)
    #expect(r.stderr.hasPrefix("error[E0100]: cannot read spec `no/such.yaml`"))
  }

  @Test("compile --emit ir prints the golden IR")
  func emitIR() throws {
    let r = try Self.mtlc(["compile", "specs/mmoe.yaml", "--emit", "ir"])
    #expect(r.status == 0)
    let golden = try String(
      contentsOf: Self.repo.appendingPathComponent("Tests/MTLFrontEndTests/Fixtures/golden/mmoe.ir"), encoding: .utf8)
    #expect(r.stdout == golden)
  }

  @Test("compile -o writes a model file; the summary lists every block and the total")
  func compileOutput() throws {
    let dir = try Self.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = dir.appendingPathComponent("mmoe.json").path
    let r = try Self.mtlc(["compile", "specs/mmoe.yaml", "-o", model])
    #expect(r.status == 0, "\(r.stderr)")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as? [String: Any]
    #expect(json?["format"] as? String == "mtlc-graph")
    #expect(json?["version"] as? Int == 1)
    for block in ["embeddings", "experts.shared", "gates.income", "gates.marital", "towers.income", "towers.marital"] {
      #expect(r.stdout.contains("\n\(block) "), "summary lacks \(block)")
    }
    #expect(r.stdout.contains("total") && r.stdout.contains("10718"))
    // A dot picture too.
    let dot = try Self.mtlc(["compile", "specs/mmoe.yaml", "--emit", "dot"])
    #expect(dot.stdout.hasPrefix("digraph \"mmoe-adult\" {"))
    #expect(dot.stdout.contains("\"experts.shared\" -> \"gates.income\""))
  }

  @Test("run, predict and evaluate: metrics, JSON, checkpoint, and predictions that agree with evaluation")
  func runPredictEvaluate() throws {
    let dir = try Self.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    // A small slice of the adult data, split into train and test files.
    let lines = try String(contentsOf: Self.repo.appendingPathComponent("data/adult.csv"), encoding: .utf8)
      .split(separator: "\n")
    let train = dir.appendingPathComponent("train.csv")
    let test = dir.appendingPathComponent("test.csv")
    try (lines[0...1500].joined(separator: "\n") + "\n").write(to: train, atomically: true, encoding: .utf8)
    try ([lines[0]] + lines[1501...2000]).joined(separator: "\n").appending("\n").write(
      to: test, atomically: true, encoding: .utf8)
    let metrics = dir.appendingPathComponent("m.json").path
    let ck = dir.appendingPathComponent("ck").path
    let r = try Self.mtlc([
      "run", "specs/esmm.yaml", "--train", train.path, "--test", test.path, "--epochs", "2", "--metrics-out", metrics,
      "--checkpoint-dir", ck,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("task "))
    #expect(r.stdout.contains("\nctr ") && r.stdout.contains("\ncvr ") && r.stdout.contains("\nctcvr "))
    #expect(r.stderr.contains("epoch 2/2: loss"))
    let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metrics))) as! [String: Any]
    let tasks = m["tasks"] as! [String: [String: Any]]
    let auc = tasks["ctcvr"]!["auc"] as! Double
    #expect(auc > 0.7 && auc <= 1)
    let trainInfo = m["train"] as! [String: Any]
    #expect((trainInfo["samples_per_second"] as! Double) > 0)

    // Predict on the test file; the AUC of its ctcvr column equals what evaluate reports.
    let out = dir.appendingPathComponent("pred.csv").path
    let p = try Self.mtlc(["predict", "specs/esmm.yaml", "--checkpoint", ck, "--data", test.path, "-o", out])
    #expect(p.status == 0, "\(p.stderr)")
    let predLines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
    #expect(predLines.first == "ctr,cvr,ctcvr")
    #expect(predLines.count == 501)
    // Refuses to overwrite without --force.
    let again = try Self.mtlc(["predict", "specs/esmm.yaml", "--checkpoint", ck, "--data", test.path, "-o", out])
    #expect(again.status != 0)
    #expect(again.stderr.contains("--force"))

    let e = try Self.mtlc(["evaluate", "specs/esmm.yaml", "--checkpoint", ck, "--data", test.path])
    #expect(e.status == 0, "\(e.stderr)")
    // The ctcvr row of evaluate's table, column 4 (AUC), against the AUC recomputed from predict's CSV.
    let row = e.stdout.split(separator: "\n").first { $0.hasPrefix("ctcvr ") }!.split(separator: " ")
    let evalAUC = Double(row[3])!
    let scores = predLines.dropFirst().map { Double($0.split(separator: ",")[2])! }
    let labels = lines[1501...2000].map { $0.split(separator: ",")[5] == "Never-married" }
    var pos = 0.0
    var pairs = 0.0
    for i in scores.indices where labels[i] {
      for j in scores.indices where !labels[j] {
        pairs += 1
        pos += scores[i] > scores[j] ? 1 : (scores[i] == scores[j] ? 0.5 : 0)
      }
    }
    #expect(abs(pos / pairs - evalAUC) < 5e-5)
  }

  @Test("a data error exits 2 and names the file, row and column")
  func dataError() throws {
    let dir = try Self.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let lines = try String(contentsOf: Self.repo.appendingPathComponent("data/adult.csv"), encoding: .utf8)
      .split(separator: "\n").prefix(300).map(String.init)
    var bad = lines
    bad[42] = "forty" + bad[42].drop { $0 != "," }
    let path = dir.appendingPathComponent("bad.csv").path
    try (bad.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    let r = try Self.mtlc(["run", "specs/mmoe.yaml", "--train", path, "--epochs", "1"])
    #expect(r.status == 2)
    #expect(r.stderr.contains("\(path):43: error: column `age`: `forty` is not a number"), "\(r.stderr)")
  }
}

/// `mtlc run --report DIR`: one self-contained page.
struct ReportTests {
  @Test("the report is one self-contained HTML page with the picture, curves, metrics and heat-map")
  func report() throws {
    let dir = try BinaryTests.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    for (name, path) in [
      ("with dot", ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"), ("built-in", "/nonexistent"),
    ] {
      let out = dir.appendingPathComponent(name.replacingOccurrences(of: " ", with: "-")).path
      let r = try BinaryTests.shell(
        "PATH='\(path)' '\(BinaryTests.repo.path)/.build/debug/mtlc' run specs/mmoe.yaml --epochs 2 --seed 77 --set data.validation_fraction=0.1 -q --report '\(out)'"
      )
      #expect(r.status == 0, "\(name): \(r.stderr)")
      let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
      #expect(html.hasPrefix("<!DOCTYPE html>"))
      // Test figures appear once, in the final table: no per-epoch test curves to pick an epoch on.
      #expect(!html.contains("test AUC after each epoch"))
      for needle in [
        "<svg", "experts.shared", "gates.income", "towers.marital", "Test metrics", "validation AUC after each epoch",
        "Gate utilisation", "shared[3]", "mtlc version", "</html>",
      ] {
        #expect(html.contains(needle), "\(name): no \(needle)")
      }
      // The run's settings, one loss panel per labelled task, one heat-map row per gate.
      for setting in [
        "<th>model</th><td>mmoe-adult</td>", "<th>seed</th><td>77</td>", "<th>batch size</th><td>256</td>",
        "<th>epochs</th><td>2</td>", "<th>optimiser</th><td>adam, learning rate 0.001</td>",
      ] {
        #expect(html.contains(setting), "\(name): no \(setting)")
      }
      #expect(html.contains(try Regex("<th>validation rows</th><td>3[12]\\d\\d \\(10% held out\\)</td>")))
      #expect(
        html.contains(try Regex("<th>finished \\(UTC\\)</th><td>\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ</td>")))
      #expect(html.components(separatedBy: "<svg class=\"loss\"").count - 1 == 2, "\(name): loss panels")
      #expect(html.contains(">income: log-loss</text>") && html.contains(">marital: log-loss</text>"))
      #expect(html.components(separatedBy: "<tr class=gate>").count - 1 == 2, "\(name): heat-map rows")
      // Self-contained: no scripts, nothing loaded from elsewhere.
      for banned in ["<script", " src=", "<link", "@import", "url(http"] {
        #expect(!html.contains(banned), "\(name): \(banned)")
      }
    }
  }
}
