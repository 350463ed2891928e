import Foundation
import Testing

/// What a new user trips over, pinned: validation that reads the data, `--set`, `-o -`,
/// `predict --keep`, `evaluate --metrics-out`, `--resume` that cannot continue, and the one
/// overwrite rule.
@Suite(.serialized)
struct CommandLineTests {
  typealias B = BinaryTests

  /// specs/NAME.yaml with `edit` applied, written into `dir` with its data and include paths made absolute.
  func spec(_ name: String, in dir: URL, _ edit: (String) -> String = { $0 }) throws -> String {
    var text = try String(contentsOfFile: B.repo.appendingPathComponent("specs/\(name).yaml").path, encoding: .utf8)
    text = text.replacingOccurrences(
      of: "../data/adult.csv", with: B.repo.appendingPathComponent("data/adult.csv").path
    ).replacingOccurrences(
      of: "{include: common/", with: "{include: \(B.repo.appendingPathComponent("specs").path)/common/")
    let path = dir.appendingPathComponent("\(name).yaml").path
    try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test("a typo in a positive: value is a located error with a did-you-mean, in validate and in run")
  func positiveTypo() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try spec("mmoe", in: dir) { text in
      #expect(text.contains("positive: [Never-married]"))
      return text.replacingOccurrences(of: "positive: [Never-married]", with: "positive: [Never_married]")
    }
    for cmd in ["validate", "run"] {
      let r = try B.mtlc(
        [cmd, p, "--epochs", "1", "-q"].filter { cmd == "run" || !["--epochs", "1", "-q"].contains($0) })
      #expect(r.status == 1, "\(cmd): \(r.stderr)")
      #expect(r.stderr.contains("error[E0404]: `Never_married` never occurs in column `marital-status`"), "\(r.stderr)")
      #expect(r.stderr.contains("help: did you mean `Never-married`?"), "\(r.stderr)")
      #expect(r.stderr.range(of: #"mmoe\.yaml:\d+:\d+: error\[E0404\]"#, options: .regularExpression) != nil)
    }
  }

  @Test("validate: a missing train file is an error at its key; --no-data skips the data checks")
  func missingTrainFile() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try spec("mmoe", in: dir) { $0.replacingOccurrences(of: "adult.csv", with: "no-such.csv") }
    let r = try B.mtlc(["validate", p])
    #expect(r.status == 1)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr.contains("error[E0403]: cannot read data file"), "\(r.stderr)")
    #expect(r.stderr.contains("no-such.csv"))
    let skipped = try B.mtlc(["validate", p, "--no-data"])
    #expect(skipped.status == 0, "\(skipped.stderr)")
    #expect(skipped.stdout.contains("valid"))
  }

  @Test("--set changes a spec key, checked like the spec; its errors point at the flag")
  func setFlag() throws {
    let ok = try B.mtlc([
      "compile", "specs/mmoe.yaml", "--no-data", "--emit", "graph", "--set", "training.batch_size=64",
    ])
    #expect(ok.status == 0, "\(ok.stderr)")
    let set = try B.mtlc(["compile", "specs/mmoe.yaml", "--no-data", "-o", "-", "--set", "training.batch_size=64"])
    #expect(set.status == 0, "\(set.stderr)")
    #expect(set.stdout.contains("\"batchSize\" : 64"), "\(set.stdout.prefix(200))")
    let bad = try B.mtlc([
      "validate", "specs/mmoe.yaml", "--no-data", "--set", "training.optimizer.learning_rate=fast", "--set",
      "training.batch_sise=3", "--set", "features.agee.normalize=none",
    ])
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("--set:1:34: error[E0202]: expected a number for `learning_rate`"), "\(bad.stderr)")
    #expect(bad.stderr.contains("--set:2:10: error[E0201]: unknown key `batch_sise` in `training`"), "\(bad.stderr)")
    #expect(bad.stderr.contains("--set:3:10: error[E0301]: `features` has no entry named `agee`"), "\(bad.stderr)")
    #expect(bad.stderr.contains("help: did you mean `age`?"), "\(bad.stderr)")
    #expect(bad.stderr.contains("1 | training.optimizer.learning_rate=fast"), "\(bad.stderr)")
    // On a compiled model, --set is a usage error.
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = dir.appendingPathComponent("m.json").path
    #expect(try B.mtlc(["compile", "specs/mmoe.yaml", "--no-data", "-o", model]).status == 0)
    let r = try B.mtlc(["run", model, "--set", "training.epochs=1"])
    #expect(r.status == 64, "\(r.stderr)")
  }

  @Test("predict -o - writes to standard output; --keep copies input columns; evaluate --metrics-out has run's shape")
  func outputsAndKeep() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let ck = dir.appendingPathComponent("ck").path
    let metricsRun = dir.appendingPathComponent("run.json").path
    let train = try B.mtlc([
      "run", "specs/esmm.yaml", "--epochs", "1", "-q", "--checkpoint-dir", ck, "--metrics-out", metricsRun,
    ])
    #expect(train.status == 0, "\(train.stderr)")
    let p = try B.mtlc([
      "predict", "specs/esmm.yaml", "--checkpoint", ck, "--data", "data/adult.csv", "-o", "-", "--keep",
      "age,native-country",
    ])
    #expect(p.status == 0, "\(p.stderr)")
    let lines = p.stdout.split(separator: "\n")
    #expect(lines.first == "age,native-country,ctr,cvr,ctcvr")
    #expect(lines.count == 32_562)
    #expect(lines.dropFirst().first?.hasPrefix("39,United-States,") == true)
    #expect(!FileManager.default.fileExists(atPath: B.repo.appendingPathComponent("-").path))
    let missing = try B.mtlc([
      "predict", "specs/esmm.yaml", "--checkpoint", ck, "--data", "data/adult.csv", "-o", "-", "--keep", "agee",
    ])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("no column `agee` in the header; similar names: `age`"), "\(missing.stderr)")

    let e = try B.mtlc([
      "evaluate", "specs/esmm.yaml", "--checkpoint", ck, "--data", "data/adult.csv", "--metrics-out", "-",
    ])
    #expect(e.status == 0, "\(e.stderr)")
    let evalJSON = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any])
    let runJSON = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metricsRun))) as? [String: Any])
    let evalTasks = try #require(evalJSON["tasks"] as? [String: [String: Any]])
    let runTasks = try #require(runJSON["tasks"] as? [String: [String: Any]])
    #expect(Set(evalTasks.keys) == Set(runTasks.keys))
    for (t, m) in runTasks { #expect(Set(m.keys) == Set(evalTasks[t]?.keys ?? [:].keys), "\(t)") }
    #expect(evalJSON["model"] as? String == runJSON["model"] as? String)
    #expect(e.stderr.contains("ctcvr"))
  }

  @Test("--resume that cannot continue exits 64 and says why")
  func resumeRefused() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let ck = dir.appendingPathComponent("ck").path
    #expect(try B.mtlc(["run", "specs/esmm.yaml", "--epochs", "2", "-q", "--checkpoint-dir", ck]).status == 0)
    let fewer = try B.mtlc(["run", "specs/esmm.yaml", "--epochs", "1", "--resume", "--checkpoint-dir", ck])
    #expect(fewer.status == 64)
    #expect(fewer.stderr.contains("it has trained 2 epochs and this run asks for 1 in all"), "\(fewer.stderr)")
    let threads = try B.mtlc([
      "run", "specs/esmm.yaml", "--epochs", "3", "--threads", "1", "--resume", "--checkpoint-dir", ck,
    ])
    #expect(threads.status == 64)
    #expect(threads.stderr.contains("trained with 2 threads in all (ranks x --threads)"), "\(threads.stderr)")
  }

  @Test(
    "every output follows one rule: an existing one is kept unless --force",
    arguments: ["report", "compile", "evaluate"])
  func overwriteRule(_ which: String) throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let target: String
    let args: [String]
    switch which {
    case "report":
      try FileManager.default.createDirectory(
        atPath: dir.appendingPathComponent("rep").path, withIntermediateDirectories: true)
      target = dir.appendingPathComponent("rep/report.html").path
      args = ["run", "specs/esmm.yaml", "--epochs", "1", "-q", "--report", dir.appendingPathComponent("rep").path]
    case "compile":
      target = dir.appendingPathComponent("m.json").path
      args = ["compile", "specs/esmm.yaml", "--no-data", "-o", target]
    default:
      let ck = dir.appendingPathComponent("ck").path
      #expect(try B.mtlc(["run", "specs/esmm.yaml", "--epochs", "1", "-q", "--checkpoint-dir", ck]).status == 0)
      target = dir.appendingPathComponent("m.json").path
      args = ["evaluate", "specs/esmm.yaml", "--checkpoint", ck, "--data", "data/adult.csv", "--metrics-out", target]
    }
    try "precious".write(toFile: target, atomically: true, encoding: .utf8)
    let r = try B.mtlc(args)
    #expect(r.status == 74, "\(r.stderr)")
    #expect(r.stderr.contains("exists; pass --force to overwrite it"), "\(r.stderr)")
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious")
    let forced = try B.mtlc(args + ["--force"])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(try String(contentsOfFile: target, encoding: .utf8) != "precious")
  }

  @Test(
    "--validation scores every epoch; early stopping without a validation set exits 64; the metrics JSON records the best epoch"
  )
  func validationAndEarlyStopping() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let p = try spec("mmoe", in: dir)
    let refused = try B.mtlc([
      "run", p, "--set", "training.early_stopping={monitor: loss}", "--epochs", "1", "-q",
    ])
    #expect(refused.status == 64, "\(refused.stderr)")
    #expect(refused.stderr.contains("`training.early_stopping` watches a validation set"), "\(refused.stderr)")

    // A validation file: the first 3000 data rows of the adult file.
    let all = try String(contentsOfFile: B.repo.appendingPathComponent("data/adult.csv").path, encoding: .utf8)
    let lines = all.split(separator: "\n", omittingEmptySubsequences: false)
    let validation = dir.appendingPathComponent("validation.csv").path
    try (lines.prefix(3001).joined(separator: "\n") + "\n").write(toFile: validation, atomically: true, encoding: .utf8)
    let metrics = dir.appendingPathComponent("m.json").path
    let r = try B.mtlc([
      "run", p, "--validation", validation, "--set", "training.early_stopping={monitor: marital.auc, patience: 1}",
      "--epochs", "6", "--metrics-out", metrics, "--checkpoint-dir", dir.appendingPathComponent("ck").path,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("validating on 3000"), "\(r.stderr)")
    #expect(r.stderr.contains("keeping the parameters of epoch"), "\(r.stderr)")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metrics))) as! [String: Any]
    let train = json["train"] as! [String: Any]
    let history = train["history"] as! [[String: Any]]
    #expect(train["validation_rows"] as? Int == 3000)
    let best = try #require(train["best_epoch"] as? Int)
    let aucs = history.map {
      (($0["validation"] as! [[String: Any]]).first { $0["task"] as? String == "marital" }!["auc"]) as! Double
    }
    #expect(aucs[best - 1] == aucs.max())
    #expect(history.allSatisfy { $0["validation_loss"] is Double && $0["validation_task_loss"] is [String: Double] })
    // predict uses the best epoch; --last the last one.
    let a = try B.mtlc([
      "predict", p, "--checkpoint", dir.appendingPathComponent("ck").path, "--data", validation, "-o", "-",
    ])
    let b = try B.mtlc([
      "predict", p, "--checkpoint", dir.appendingPathComponent("ck").path, "--data", validation, "-o", "-", "--last",
    ])
    #expect(a.status == 0 && b.status == 0)
    #expect((a.stdout != b.stdout) == (best != history.count), "best \(best) of \(history.count)")
  }
}
