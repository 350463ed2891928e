import Foundation
import Testing

/// Killing, interrupting and starving the real binary never loses more than the work since the
/// last checkpoint, and a resumed run ends exactly where an uninterrupted one does.
@Suite(.serialized)
struct ProcessFaultTests {
  static let repo = BinaryTests.repo
  static let bin = repo.appendingPathComponent(".build/debug/mtlc").path

  /// A small train/test pair (1,500 and 500 rows of the adult data) in a fresh folder.
  static func smallData() throws -> (dir: URL, train: String, test: String) {
    let dir = try BinaryTests.tempDir()
    let lines = try String(contentsOf: repo.appendingPathComponent("data/adult.csv"), encoding: .utf8)
      .split(separator: "\n")
    let train = dir.appendingPathComponent("train.csv")
    let test = dir.appendingPathComponent("test.csv")
    try (lines[0...1500].joined(separator: "\n") + "\n").write(to: train, atomically: true, encoding: .utf8)
    try (([lines[0]] + lines[1501...2000]).joined(separator: "\n") + "\n").write(
      to: test, atomically: true, encoding: .utf8)
    return (dir, train.path, test.path)
  }

  static func runArgs(_ d: (dir: URL, train: String, test: String), epochs: Int, extra: [String]) -> [String] {
    ["run", "specs/mmoe.yaml", "--train", d.train, "--test", d.test, "--epochs", "\(epochs)", "-q"] + extra
  }

  /// Starts mtlc in the background; returns the process.
  static func start(_ args: [String], stderr: URL? = nil) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = args
    p.currentDirectoryURL = repo
    var env = ProcessInfo.processInfo.environment
    env["MTLC_CACHE_DIR"] = "off"
    // The machine's memory limit, not a user's setting.
    env["MTLC_MEMORY_LIMIT"] = nil
    p.environment = env
    p.standardOutput = FileHandle.nullDevice
    if let stderr {
      FileManager.default.createFile(atPath: stderr.path, contents: nil)
      p.standardError = try FileHandle(forWritingTo: stderr)
    } else {
      p.standardError = FileHandle.nullDevice
    }
    try p.run()
    return p
  }

  /// The metrics file's task table (times vary; the metrics must not).
  static func tasks(_ path: String) throws -> NSDictionary {
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    return json["tasks"] as! NSDictionary
  }

  @Test("SIGKILL at random moments, then --resume until done: the same metrics as an uninterrupted run")
  func killAndResume() throws {
    let d = try Self.smallData()
    defer { try? FileManager.default.removeItem(at: d.dir) }
    let epochs = 6
    let reference = d.dir.appendingPathComponent("ref.json").path
    let r = try BinaryTests.mtlc(Self.runArgs(d, epochs: epochs, extra: ["--metrics-out", reference]))
    #expect(r.status == 0, "\(r.stderr)")

    let ck = d.dir.appendingPathComponent("ck").path
    let out = d.dir.appendingPathComponent("resumed.json").path
    var rng = SystemRandomNumberGenerator()
    var kills = 0
    var finished = false
    // Eight runs killed at a random moment each (process start, data, mid-epoch, mid-write), then
    // one left to finish.
    for attempt in 0..<9 where !finished {
      let log = d.dir.appendingPathComponent("stderr-\(attempt)")
      let p = try Self.start(
        Self.runArgs(
          d, epochs: epochs, extra: ["--checkpoint-dir", ck, "--metrics-out", out] + (attempt > 0 ? ["--resume"] : [])),
        stderr: log)
      if attempt < 8 {
        usleep(UInt32.random(in: 20_000...(150_000 + 100_000 * UInt32(attempt)), using: &rng))
      } else {
        p.waitUntilExit()
      }
      if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        kills += 1
      }
      p.waitUntilExit()
      if p.terminationReason == .exit {
        #expect(
          p.terminationStatus == 0,
          "attempt \(attempt): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        finished = true
      }
      // A checkpoint left behind is always a complete one.
      let path = ck + "/checkpoint.mtlc"
      if FileManager.default.fileExists(atPath: path) {
        let e = try BinaryTests.mtlc(["evaluate", "specs/mmoe.yaml", "--checkpoint", ck, "--data", d.test])
        #expect(e.status == 0, "checkpoint unreadable after a kill: \(e.stderr)")
      }
    }
    #expect(finished, "never finished")
    #expect(kills > 0, "the run finished before any kill: the test proved nothing")
    #expect(try Self.tasks(out) == (try Self.tasks(reference)))
  }

  @Test("SIGINT saves a checkpoint mid-epoch and exits 130; --resume ends with the same metrics")
  func interruptAndResume() throws {
    let d = try Self.smallData()
    defer { try? FileManager.default.removeItem(at: d.dir) }
    let reference = d.dir.appendingPathComponent("ref.json").path
    #expect(try BinaryTests.mtlc(Self.runArgs(d, epochs: 30, extra: ["--metrics-out", reference])).status == 0)
    let ck = d.dir.appendingPathComponent("ck").path
    let out = d.dir.appendingPathComponent("out.json").path
    let p = try Self.start(Self.runArgs(d, epochs: 30, extra: ["--checkpoint-dir", ck, "--metrics-out", out]))
    // Signal once the first epoch's checkpoint exists: training is then surely under way.
    var waited = 0
    while !FileManager.default.fileExists(atPath: ck + "/checkpoint.mtlc") && waited < 60_000 {
      usleep(2_000)
      waited += 2
    }
    #expect(p.isRunning, "finished before the signal; the test needs a longer run")
    kill(p.processIdentifier, SIGINT)
    p.waitUntilExit()
    #expect(p.terminationReason == .exit && p.terminationStatus == 130)
    #expect(FileManager.default.fileExists(atPath: ck + "/checkpoint.mtlc"))
    #expect(!FileManager.default.fileExists(atPath: out))
    let r = try BinaryTests.mtlc(
      Self.runArgs(d, epochs: 30, extra: ["--checkpoint-dir", ck, "--metrics-out", out, "--resume"]))
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Self.tasks(out) == (try Self.tasks(reference)))
  }

  @Test("a write that fails (file size limit, as on a full disk) leaves the previous checkpoint intact")
  func failedWriteKeepsPreviousCheckpoint() throws {
    let d = try Self.smallData()
    defer { try? FileManager.default.removeItem(at: d.dir) }
    let ck = d.dir.appendingPathComponent("ck").path
    #expect(try BinaryTests.mtlc(Self.runArgs(d, epochs: 1, extra: ["--checkpoint-dir", ck])).status == 0)
    let before = try Data(contentsOf: URL(fileURLWithPath: ck + "/checkpoint.mtlc"))
    // Resume for more epochs with writes capped at 8 KiB: the next checkpoint cannot be written.
    let cmd =
      "ulimit -f 8; exec '\(Self.bin)' "
      + Self.runArgs(d, epochs: 3, extra: ["--checkpoint-dir", ck, "--resume"])
      .map { "'\($0)'" }.joined(separator: " ")
    let r = try BinaryTests.shell(cmd)
    #expect(r.status == 74, "\(r.status): \(r.stderr)")
    #expect(r.stderr.contains("cannot write the checkpoint"))
    let after = try Data(contentsOf: URL(fileURLWithPath: ck + "/checkpoint.mtlc"))
    #expect(after == before)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: ck).filter { $0.contains(".tmp-") }
    #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
  }

  @Test("outputs that exist are not clobbered without --force")
  func noClobber() throws {
    let d = try Self.smallData()
    defer { try? FileManager.default.removeItem(at: d.dir) }
    let model = d.dir.appendingPathComponent("m.json").path
    try "precious".write(toFile: model, atomically: true, encoding: .utf8)
    let r = try BinaryTests.mtlc(["compile", "specs/mmoe.yaml", "-o", model])
    #expect(r.status == 74 && r.stderr.contains("--force"))
    #expect(try String(contentsOfFile: model, encoding: .utf8) == "precious")
    #expect(try BinaryTests.mtlc(["compile", "specs/mmoe.yaml", "-o", model, "--force"]).status == 0)
    let metrics = d.dir.appendingPathComponent("x.json").path
    try "keep".write(toFile: metrics, atomically: true, encoding: .utf8)
    let run = try BinaryTests.mtlc(Self.runArgs(d, epochs: 1, extra: ["--metrics-out", metrics]))
    #expect(run.status == 74)
    #expect(try String(contentsOfFile: metrics, encoding: .utf8) == "keep")
  }
}

/// `data.on_bad_row: skip` also holds for `predict` and `evaluate`.
struct SkipBadRowsTests {
  @Test("predict and evaluate drop bad rows under skip, say so, and predict keeps each row's line")
  func predictAndEvaluateSkip() throws {
    let d = try ProcessFaultTests.smallData()
    defer { try? FileManager.default.removeItem(at: d.dir) }
    let spec = try String(contentsOf: BinaryTests.repo.appendingPathComponent("specs/mmoe.yaml"), encoding: .utf8)
      .replacingOccurrences(of: "  train: ../data/adult.csv", with: "  train: \(d.train)\n  on_bad_row: skip")
      .replacingOccurrences(
        of: "{include: common/", with: "{include: \(BinaryTests.repo.appendingPathComponent("specs").path)/common/")
    let specPath = d.dir.appendingPathComponent("mmoe-skip.yaml").path
    try spec.write(toFile: specPath, atomically: true, encoding: .utf8)
    let ck = d.dir.appendingPathComponent("ck").path
    let r = try BinaryTests.mtlc(["run", specPath, "--epochs", "1", "--checkpoint-dir", ck, "-q"])
    #expect(r.status == 0, "\(r.stderr)")
    // A test file whose 3rd data row (file line 4) is ragged.
    var lines = try String(contentsOfFile: d.test, encoding: .utf8).split(separator: "\n").map(String.init)
    lines[3] = "39,State-gov,77516"
    let dirty = d.dir.appendingPathComponent("dirty.csv").path
    try (lines.joined(separator: "\n") + "\n").write(toFile: dirty, atomically: true, encoding: .utf8)
    let out = d.dir.appendingPathComponent("p.csv").path
    let p = try BinaryTests.mtlc(["predict", specPath, "--checkpoint", ck, "--data", dirty, "-o", out])
    #expect(p.status == 0, "\(p.stderr)")
    #expect(p.stderr.contains("skipped 1 bad row"), "\(p.stderr)")
    let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
    #expect(rows.first == "line,income,marital")
    #expect(rows.count == lines.count - 1)  // header + every row but the bad one
    #expect(rows[1].hasPrefix("2,") && rows[2].hasPrefix("3,") && rows[3].hasPrefix("5,"))
    let e = try BinaryTests.mtlc(["evaluate", specPath, "--checkpoint", ck, "--data", dirty])
    #expect(e.status == 0, "\(e.stderr)")
    #expect(e.stderr.contains("skipped 1 bad row"))
    #expect(e.stdout.contains("\nincome "))
  }
}
