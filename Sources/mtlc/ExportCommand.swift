import ArgumentParser
import MTLGraph
import MTLONNX
import MTLSupport
import MTLTrain

/// `mtlc export`: the inference graph as ONNX (docs/graph-format.md, "ONNX export").
struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write the trained model as ONNX: one input per feature, one output per task.")

  @Argument(help: "A compiled model file or its YAML spec.") var model: String
  @Option(help: "The checkpoint directory written by `mtlc run --checkpoint-dir`.") var checkpoint: String
  @Flag(help: "Use the last epoch's parameters, not the best one's that early stopping kept.") var last = false
  @Option(name: .shortAndLong, help: "Where to write the ONNX model (e.g. model.onnx).") var output: String
  @Flag(help: "Overwrite the output file if it exists.") var force = false

  func run() throws {
    if output == "-" {
      eprint("error: an ONNX model is a binary file with a vocabulary file beside it; give -o a path")
      throw ExitCode(Exit.usage)
    }
    let vocabPath = Export.vocabularyPath(output)
    try refuseOverwrites([.file(output)], force: force)
    let graph = try loadModel(model)
    do {
      let s = try Inference.restore(graph, checkpointDir: checkpoint, last: last)
      let r = try ONNXExport.export(
        graph: s.graph, fitted: s.fitted, params: s.checkpoint().params, producerVersion: MTLC.configuration.version)
      // The vocabulary file is written only for hashed features: checked once that is known,
      // before anything is written.
      if !r.integerInputs.isEmpty { try refuseOverwrites([.file(vocabPath)], force: force) }
      try AtomicFile.write(try r.bytes(), to: output)
      eprint(
        "wrote \(output): \(s.fitted.sparse.count + s.fitted.dense.count) inputs, \(s.graph.tasks.count) outputs (\(s.graph.tasks.map(\.name).joined(separator: ", ")))"
      )
      if !r.integerInputs.isEmpty {
        try AtomicFile.write(ONNXExport.vocabularyJSON(r.integerInputs), to: vocabPath)
        eprint(
          "hashed features take int64 row ids, not strings: \(r.integerInputs.map(\.name).joined(separator: ", ")); see \(vocabPath)"
        )
      }
    } catch let e as ONNXExportError {
      eprint("error: cannot export: \(e)")
      throw ExitCode(Exit.internalError)
    } catch { throw exitFor(error) }
  }

  /// `model.onnx` -> `model.vocab.json`.
  static func vocabularyPath(_ output: String) -> String {
    let base = output.hasSuffix(".onnx") ? String(output.dropLast(5)) : output
    return base + ".vocab.json"
  }
}
