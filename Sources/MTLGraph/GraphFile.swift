import Foundation
import MTLSupport

/// Reading and writing compiled graph files (JSON; documented in docs/graph-format.md).
public enum GraphFile {
  public struct Error: Swift.Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
  }

  public static func encode(_ g: Graph) -> [UInt8] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Encoding plain Codable structs with finite numbers cannot fail.
    let data = (try? enc.encode(g)) ?? Data()
    return Array(data) + [0x0A]
  }

  /// Writes the graph with its data paths made relative to the file's own folder, so the model
  /// can be run from any working directory (and moved together with its data).
  public static func write(_ g: Graph, to path: String) throws {
    var g = g
    let dir = Paths.directory(of: path)
    g.pipeline.train = Paths.relative(g.pipeline.train, from: dir)
    g.pipeline.test = g.pipeline.test.map { Paths.relative($0, from: dir) }
    try AtomicFile.write(encode(g), to: path)
  }

  public static func decode(_ bytes: [UInt8], path: String) throws -> Graph {
    // Check the header fields first, so an old or foreign file gets a clear message.
    struct Header: Decodable {
      var format: String?
      var version: Int?
    }
    guard let h = try? JSONDecoder().decode(Header.self, from: Data(bytes)) else {
      throw Error(path: path, reason: "not a compiled mtlc model (not JSON); compile a spec with `mtlc compile`")
    }
    guard h.format == Graph.formatName else {
      throw Error(path: path, reason: "not a compiled mtlc model (format is `\(h.format ?? "missing")`)")
    }
    guard h.version == Graph.formatVersion else {
      throw Error(
        path: path,
        reason:
          "model format version \(h.version.map(String.init) ?? "missing") is not supported (this mtlc reads \(Graph.formatVersion)); compile the spec again"
      )
    }
    do {
      let g = try JSONDecoder().decode(Graph.self, from: Data(bytes))
      if let problem = g.verify() { throw Error(path: path, reason: "invalid model: \(problem)") }
      return g
    } catch let e as Error {
      throw e
    } catch {
      throw Error(path: path, reason: "invalid model file: \(error)")
    }
  }

  public static func read(_ path: String) throws -> Graph {
    let bytes: [UInt8]
    do { bytes = try AtomicFile.read(path, limit: 256 << 20) } catch {
      throw Error(path: path, reason: "\(error)")
    }
    var g = try decode(bytes, path: path)
    // Data paths in the file are relative to the file's folder.
    let dir = Paths.directory(of: path)
    g.pipeline.train = Paths.resolve(g.pipeline.train, against: dir)
    g.pipeline.test = g.pipeline.test.map { Paths.resolve($0, against: dir) }
    return g
  }
}

extension Graph {
  /// Binds embedding row counts from vocabulary sizes (feature name -> rows).
  public func bound(vocabularyRows: [String: Int]) -> Graph {
    var g = self
    for i in g.params.indices {
      if let f = g.params[i].rowsFrom, let n = vocabularyRows[f] { g.params[i].shape[0] = n }
    }
    return g
  }

  public var isBound: Bool { params.allSatisfy { $0.shape.allSatisfy { $0 > 0 } } }

  /// Structural checks a hand-edited or corrupted file could break; nil when sound.
  public func verify() -> String? {
    let nv = values.count
    let np = params.count
    var defined = Set<ValueID>()
    for (i, op) in ops.enumerated() {
      for v in op.inputs where !(0..<nv).contains(v) || !defined.contains(v) {
        return "op \(i) (\(op.kind.rawValue)) reads value \(v) before it is defined"
      }
      for p in op.params where !(0..<np).contains(p) { return "op \(i) uses unknown parameter \(p)" }
      guard (0..<nv).contains(op.output), !defined.contains(op.output) else {
        return "op \(i) writes value \(op.output) twice or out of range"
      }
      defined.insert(op.output)
      if op.kind == .embed, op.slot.map({ !(0..<pipeline.sparse.count).contains($0) }) ?? true {
        return "op \(i) embeds an unknown sparse slot"
      }
      if op.kind == .mix {
        guard let refs = op.mix, !refs.isEmpty, !op.inputs.isEmpty else { return "op \(i) (mix) names no experts" }
        for r in refs
        where !(1..<op.inputs.count).contains(r.input) || !(0..<values[op.inputs[r.input]].experts).contains(r.expert) {
          return "op \(i) (mix) mixes an expert that does not exist"
        }
        if values[op.inputs[0]].width != refs.count {
          return "op \(i) (mix) has \(refs.count) experts for a gate of width \(values[op.inputs[0]].width)"
        }
      }
    }
    for t in tasks where !defined.contains(t.prediction) { return "task \(t.name) has no prediction" }
    for l in losses where !defined.contains(l.input) || !(0..<pipeline.labels.count).contains(l.label) {
      return "loss of \(l.task) is malformed"
    }
    if training.batchSize <= 0 || training.epochs <= 0 { return "batch size and epochs must be positive" }
    for v in values where v.width <= 0 || v.experts <= 0 { return "value \(v.name) has an empty shape" }
    return nil
  }
}
