import ArgumentParser
import Foundation
import MTLCompiler
import MTLData
import MTLDistributed
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLSupport
import MTLTrain

#if canImport(Glibc)
  import Glibc
#endif

/// Commands that train and use models.
let runtimeCommands: [ParsableCommand.Type] = [
  Run.self, Prepare.self, Predict.self, Evaluate.self, Export.self, Init.self, Synth.self,
]

/// A spec (compiled now, with any `--set` flags) or a compiled model file. Spec errors exit 1.
/// With `checkData`, the spec's data files are read for the checks `validate` makes (columns,
/// label values).
func loadModel(_ path: String, checkData: Bool = false, overrides: [String] = []) throws -> Graph {
  if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
    var options = Compiler.Options()
    options.readData = checkData
    options.fitVocabularies = false
    options.overrides = overrides
    let r = Compiler.compile(path: path, options: options)
    if !r.diagnostics.all.isEmpty { eprint(r.rendered) }
    guard r.succeeded, let g = r.graph else { throw ExitCode(specFailure(r.diagnostics)) }
    return g
  }
  if !overrides.isEmpty {
    eprint("error: --set changes a spec; `\(path)` is a compiled model (set the keys in its spec and compile it again)")
    throw ExitCode(Exit.usage)
  }
  do { return try GraphFile.read(path) } catch {
    eprint("error: \(error)")
    throw ExitCode(Exit.specError)
  }
}

/// The one overwrite rule: every output is checked before any work starts; an existing one is
/// an error (exit 74) unless `--force` was given.
func refuseOverwrites(_ outputs: [Output?], force: Bool) throws {
  for o in outputs.compactMap({ $0 }) {
    do { try o.refuseOverwrite(force: force) } catch { throw exitFor(error) }
  }
}

/// Maps the library's errors to messages and exit codes.
func exitFor(_ error: Error) -> ExitCode {
  switch error {
  case let e as ExitCode: return e
  case let e as DataError:
    eprint(e.description)
    return ExitCode(Exit.dataError)
  case let e as ShardError:
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
  case let e as MemoryPlan.BadLimit:
    eprint("error: \(e)")
    return ExitCode(Exit.usage)
  case let e as MemoryPlan.TooLarge:
    eprint("error: \(e)")
    return ExitCode(Exit.specError)
  case let e as ResumeError:
    eprint("error: \(e)")
    return ExitCode(Exit.usage)
  case let e as SetupError:
    eprint("error: \(e)")
    return ExitCode(Exit.usage)
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
  @Option(help: "Validation CSV, scored after every epoch (instead of the spec's `data.validation`).")
  var validation: String?
  @Option(help: "Number of epochs (instead of the spec's).") var epochs: Int?
  @Option(help: "Random seed for initialisation and shuffling (instead of the spec's).") var seed: UInt64?
  @Option(help: "Threads that share each batch (default 2; results are bit-identical for a given count).")
  var threads: Int?
  @Option(name: .customLong("split-seed"), help: "Seed of the held-out test split (instead of the spec's).")
  var splitSeed: UInt64?
  @Option(name: .customLong("metrics-out"), help: "Write the metrics as JSON here (`-`: standard output).")
  var metricsOut: String?
  @Option(help: "Write a self-contained HTML report of the run into this folder (report.html).")
  var report: String?
  @Option(
    name: .customLong("set"),
    help: ArgumentHelp(
      "Set a spec key, checked like the spec (repeatable): --set training.optimizer.learning_rate=0.01",
      valueName: "key=value"))
  var overrides: [String] = []
  @Option(name: .customLong("checkpoint-dir"), help: "Write a checkpoint here at the end of every epoch.")
  var checkpointDir: String?
  @Flag(help: "Continue from the checkpoint in --checkpoint-dir, if there is one.") var resume = false
  @Flag(help: "Overwrite existing outputs (--metrics-out, the report), or start afresh over an existing checkpoint.")
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
    // A resumed run continues the run that wrote them, so it replaces its metrics and report (a
    // run killed after writing them resumes to the same files).
    try refuseOverwrites(
      [metricsOut.map(Output.init), report.map { .file((($0.hasSuffix("/") ? $0 : $0 + "/") + "report.html")) }],
      force: force || resume)
    if let dir = checkpointDir, !resume {
      do {
        try Output.file(Checkpoint.path(in: dir)).refuseOverwrite(
          force: force, hint: "pass --resume to continue from it, or --force to start afresh")
      } catch { throw exitFor(error) }
    }
    // Under mpirun: one rank of a data-parallel run (every rank runs this same command).
    let communicator: MPICommunicator?
    do { communicator = try MPICommunicator.fromEnvironment() } catch {
      eprint("error: \(error)")
      throw ExitCode(Exit.usage)
    }
    let writer = (communicator?.rank ?? 0) == 0
    Interrupt.install()
    // The spec's own data is checked as `validate` checks it (a `positive:` value that never
    // occurs is an error, not a silent run); other data given on the command line is not.
    let graph = try loadModel(
      model, checkData: train == nil && test == nil && validation == nil, overrides: overrides)
    var job = RunJob(graph: graph)
    job.trainPath = train
    job.testPath = test
    job.validationPath = validation
    job.epochs = epochs
    job.seed = seed
    job.splitSeed = splitSeed
    job.threads = threads
    job.checkpointDir = checkpointDir
    job.resume = resume
    job.metricsOut = metricsOut.map(Output.init)
    job.reportDir = report
    job.command = (["mtlc"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
    job.communicator = communicator
    let tty = isatty(2) != 0 && communicator == nil
    if !quiet && writer {
      let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""
      eprint(BLAS.summary + chosen)
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
    do { result = try job.run() } catch {
      if !writer { throw ExitCode(exitFor(error).rawValue) }
      throw exitFor(error)
    }
    communicator?.finish()
    guard writer else { return }
    // With the metrics JSON on standard output, the table goes to standard error.
    let table =
      metricsTable(result.metrics) + (quiet || result.experts.table.isEmpty ? "" : "\n" + result.experts.table)
    if job.metricsOut == .standardOutput { eprint(table) } else { print(table, terminator: "") }
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
  @Flag(help: "Use the last epoch's parameters, not the best one's that early stopping kept.") var last = false
  @Option(help: "The CSV to predict (label columns are not needed).") var data: String
  @Option(name: .shortAndLong, help: "Where to write the predictions (CSV; `-`: standard output).") var output: String
  @Option(
    help: ArgumentHelp(
      "Input columns to copy before the predictions, to join them back by (e.g. --keep user_id,item_id).",
      valueName: "col,..."))
  var keep: String?
  @Flag(help: "Overwrite the output file if it exists.") var force = false

  func run() throws {
    let out = Output(output)
    try refuseOverwrites([out], force: force)
    let graph = try loadModel(model)
    let kept = keep.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
    do {
      let s = try Inference.restore(graph, checkpointDir: checkpoint, last: last)
      if let clash = kept.first(where: { k in s.graph.tasks.contains { $0.name == k } }) {
        eprint("error: --keep column `\(clash)` has the name of a task's prediction column")
        throw ExitCode(Exit.usage)
      }
      let (rows, csv, skipped) = try Inference.predict(s, dataPath: data, keep: kept)
      if let skipped { eprint(skipped.description) }
      try out.write(csv)
      eprint("wrote \(rows) predictions for \(s.graph.tasks.count) tasks to \(out)")
    } catch { throw exitFor(error) }
  }
}

struct Evaluate: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print the metrics of a trained model on a labelled CSV.")

  @Argument(help: "A compiled model file or its YAML spec.") var model: String
  @Option(help: "The checkpoint directory written by `mtlc run --checkpoint-dir`.") var checkpoint: String
  @Flag(help: "Use the last epoch's parameters, not the best one's that early stopping kept.") var last = false
  @Option(help: "A labelled CSV.") var data: String
  @Option(
    name: .customLong("metrics-out"),
    help: "Write the metrics as JSON here, in the shape `mtlc run --metrics-out` writes (`-`: standard output).")
  var metricsOut: String?
  @Flag(help: "Overwrite the metrics file if it exists.") var force = false

  func run() throws {
    let out = metricsOut.map(Output.init)
    try refuseOverwrites([out], force: force)
    let graph = try loadModel(model)
    do {
      let s = try Inference.restore(graph, checkpointDir: checkpoint, last: last)
      let (metrics, skipped) = try Inference.evaluate(s, dataPath: data)
      if let skipped { eprint(skipped.description) }
      if let out {
        let rows = metrics.first?.count ?? 0
        try out.write(MetricsFile(model: s.graph.name, seed: s.seed, testRows: rows, metrics: metrics).encoded())
      }
      if out == .standardOutput { eprint(metricsTable(metrics)) } else { print(metricsTable(metrics), terminator: "") }
    } catch { throw exitFor(error) }
  }
}
