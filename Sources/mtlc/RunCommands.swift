import ArgumentParser
import MTLCompiler
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain

#if canImport(Glibc)
  import Glibc
#endif

/// Commands that train and use models.
let runtimeCommands: [ParsableCommand.Type] = [Run.self, Predict.self, Evaluate.self, Export.self]

/// A spec (compiled now) or a compiled model file. Spec errors exit 1.
func loadModel(_ path: String) throws -> Graph {
  if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
    let r = Compiler.compile(
      path: path,
      options: {
        var o = Compiler.Options()
        o.readData = false
        return o
      }())
    if !r.diagnostics.all.isEmpty { eprint(r.rendered) }
    guard r.succeeded, let g = r.graph else { throw ExitCode(specFailure(r.diagnostics)) }
    return g
  }
  do { return try GraphFile.read(path) } catch {
    eprint("error: \(error)")
    throw ExitCode(Exit.specError)
  }
}

/// Maps the library's errors to messages and exit codes.
func exitFor(_ error: Error) -> ExitCode {
  switch error {
  case let e as ExitCode: return e
  case let e as DataError:
    eprint(e.description)
    return ExitCode(Exit.dataError)
  case let e as NumericalError:
    eprint("error: \(e)")
    return ExitCode(Exit.numericalError)
  case let e as Interrupted:
    return ExitCode(128 + e.signal)
  case let e as GraphProblem:
    eprint("error: invalid model: \(e)")
    return ExitCode(Exit.specError)
  case let e as MemoryPlan.TooLarge:
    eprint("error: \(e)")
    return ExitCode(Exit.specError)
  case let e as CheckpointError:
    eprint("error: \(e)")
    return ExitCode(Exit.ioError)
  case let e as FileError:
    eprint("error: \(e)")
    return ExitCode(Exit.ioError)
  default:
    eprint("internal error: \(error)")
    return ExitCode(Exit.internalError)
  }
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a model on its data, evaluate it on the test rows, and print per-task metrics.")

  @Argument(help: "A YAML spec (compiled first) or a compiled model file.") var model: String
  @Option(help: "Training CSV (instead of the spec's).") var train: String?
  @Option(help: "Test CSV (instead of a held-out fraction of the training rows).") var test: String?
  @Option(help: "Number of epochs (instead of the spec's).") var epochs: Int?
  @Option(help: "Random seed for initialisation and shuffling (instead of the spec's).") var seed: UInt64?
  @Option(help: "Threads that share each batch (default 2; results are bit-identical for a given count).")
  var threads: Int?
  @Option(name: .customLong("split-seed"), help: "Seed of the held-out test split (instead of the spec's).")
  var splitSeed: UInt64?
  @Option(name: .customLong("metrics-out"), help: "Write the metrics as JSON here.") var metricsOut: String?
  @Option(help: "Write a self-contained HTML report of the run into this folder (report.html).")
  var report: String?
  @Option(name: .customLong("checkpoint-dir"), help: "Write a checkpoint here at the end of every epoch.")
  var checkpointDir: String?
  @Flag(help: "Continue from the checkpoint in --checkpoint-dir, if there is one.") var resume = false
  @Flag(help: "Overwrite an existing --metrics-out file, or start afresh over an existing checkpoint.")
  var force = false
  @Flag(name: .shortAndLong, help: "Print only the metrics table.") var quiet = false

  func validate() throws {
    if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
    if let t = threads, t < 1 || t > 64 { throw ValidationError("--threads must be between 1 and 64") }
    if resume && checkpointDir == nil { throw ValidationError("--resume needs --checkpoint-dir") }
    if resume && force { throw ValidationError("--resume and --force contradict each other") }
  }

  func run() throws {
    // Never clobber what the user has unless asked.
    if let m = metricsOut, !force && AtomicFile.exists(m) {
      eprint("error: `\(m)` exists; pass --force to overwrite it")
      throw ExitCode(Exit.ioError)
    }
    if let dir = checkpointDir, !resume && !force && AtomicFile.exists(Checkpoint.path(in: dir)) {
      eprint(
        "error: `\(Checkpoint.path(in: dir))` exists; pass --resume to continue from it, or --force to start afresh")
      throw ExitCode(Exit.ioError)
    }
    Interrupt.install()
    let graph = try loadModel(model)
    var job = RunJob(graph: graph)
    job.trainPath = train
    job.testPath = test
    job.epochs = epochs
    job.seed = seed
    job.splitSeed = splitSeed
    job.threads = threads
    job.checkpointDir = checkpointDir
    job.resume = resume
    job.metricsOut = metricsOut
    job.reportDir = report
    job.command = (["mtlc"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
    let tty = isatty(2) != 0
    if !quiet {
      job.log = { line in
        if tty { eprint("\r\u{1B}[K" + line) } else { eprint(line) }
      }
      if tty {
        job.onBatch = { epoch, b, n, loss in
          guard b % 8 == 0 || b == n else { return }
          let width = 30
          let done = width * b / n
          let bar = String(repeating: "=", count: done) + String(repeating: " ", count: width - done)
          let text = "\r\u{1B}[Kepoch \(epoch) [\(bar)] \(b)/\(n) loss \(fixed(loss, 4))"
          _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        }
      }
    }
    let result: RunJob.Result
    do { result = try job.run() } catch { throw exitFor(error) }
    print(metricsTable(result.metrics), terminator: "")
    if !quiet && !result.experts.table.isEmpty { print("\n" + result.experts.table, terminator: "") }
    if !quiet {
      eprint(
        "trained \(result.trainedEpochs.count) epochs in \(fixed(result.trainSeconds, 2)) s (\(Int(result.samplesPerSecond)) samples/s)"
          + (metricsOut.map { "; metrics in \($0)" } ?? ""))
    }
  }
}

struct Predict: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write one prediction column per task (probabilities for binary tasks) for every row of a CSV.")

  @Argument(help: "A compiled model file or its YAML spec.") var model: String
  @Option(help: "The checkpoint directory written by `mtlc run --checkpoint-dir`.") var checkpoint: String
  @Option(help: "The CSV to predict (label columns are not needed).") var data: String
  @Option(name: .shortAndLong, help: "Where to write the predictions (CSV).") var output: String
  @Flag(help: "Overwrite the output file if it exists.") var force = false

  func run() throws {
    let graph = try loadModel(model)
    if !force && AtomicFile.exists(output) {
      eprint("error: `\(output)` exists; pass --force to overwrite it")
      throw ExitCode(Exit.ioError)
    }
    do {
      let s = try Inference.restore(graph, checkpointDir: checkpoint)
      let (rows, csv, skipped) = try Inference.predict(s, dataPath: data)
      if let skipped { eprint(skipped.description) }
      try AtomicFile.write(csv, to: output)
      eprint("wrote \(rows) predictions for \(s.graph.tasks.count) tasks to \(output)")
    } catch { throw exitFor(error) }
  }
}

struct Evaluate: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print the metrics of a trained model on a labelled CSV.")

  @Argument(help: "A compiled model file or its YAML spec.") var model: String
  @Option(help: "The checkpoint directory written by `mtlc run --checkpoint-dir`.") var checkpoint: String
  @Option(help: "A labelled CSV.") var data: String

  func run() throws {
    let graph = try loadModel(model)
    do {
      let s = try Inference.restore(graph, checkpointDir: checkpoint)
      let (metrics, skipped) = try Inference.evaluate(s, dataPath: data)
      if let skipped { eprint(skipped.description) }
      print(metricsTable(metrics), terminator: "")
    } catch { throw exitFor(error) }
  }
}
