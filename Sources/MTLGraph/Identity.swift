import Foundation
import MTLSupport

// A model's identity: what makes two graphs the same model, so that a checkpoint trained with one
// can be predicted, evaluated, exported and resumed with the other.
//
// The identity is the graph's ops, values, parameters, tasks, losses, feature pipeline (features,
// vocabulary kinds, missing markers, labels) and training settings. It is never where the files
// were or how they were named: the spec path (`source`), the data paths, the split of the data
// (`test_fraction`, `split_seed`, the validation set), the CSV dialect and bad-row policy (how files are read), where the examples live and their order (`streaming`, `shard_rows`, `shuffle_window`), the
// spec locations of ops (a comment added above a block moves them), the model's display name and
// the epoch count and early stopping (a run resumed with more `--epochs` or another patience is
// the same model). The learned vocabularies
// and statistics are checked beside it (the fitted pipeline travels in the checkpoint).

extension Pipeline {
  /// The pipeline without data locations, split and file dialect.
  public var identity: Pipeline {
    var p = self
    p.train = ""
    p.test = nil
    p.testFraction = 0
    p.splitSeed = 0
    p.validation = nil
    p.validationFraction = 0
    p.delimiter = ","
    p.onBadRow = .error
    p.streaming = nil
    p.shardRows = Pipeline.defaultShardRows
    p.shuffleWindow = Pipeline.defaultShuffleWindow
    return p
  }
}

public enum ModelIdentity {
  /// The graph with everything that is not identity cleared.
  public static func canonical(_ g: Graph) -> Graph {
    var g = g
    g.name = ""
    g.source = ""
    g.pipeline = g.pipeline.identity
    g.training.epochs = 1
    g.training.earlyStopping = nil
    g.training.gradientCosine = nil
    for i in g.ops.indices { g.ops[i].loc = "" }
    return g
  }

  /// Canonical JSON of the identity (sorted keys, compact).
  public static func json(_ g: Graph) -> [UInt8] { encode(canonical(g)) }

  public static func fingerprint(_ g: Graph) -> UInt64 { Checksum.fnv1a64(json(g)) }

  static func encode<T: Encodable>(_ x: T) -> [UInt8] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Plain Codable structs with finite numbers cannot fail to encode.
    return Array((try? enc.encode(x)) ?? Data())
  }

  /// The first field in which two models differ, for a message: `params[embeddings.age].shape:
  /// [75,8] in the checkpoint, [75,4] in this model`. nil when they are the same model.
  public static func firstDifference(
    stored: Graph, current: Graph, storedName: String = "the checkpoint", currentName: String = "this model"
  ) -> String? {
    firstDifference(
      stored: encode(canonical(stored)), current: encode(canonical(current)), storedName: storedName,
      currentName: currentName)
  }

  /// The first field in which two feature pipelines differ as identity (`sparse[0].missing: ...`).
  public static func firstDifference(
    stored: Pipeline, current: Pipeline, storedName: String = "the checkpoint", currentName: String = "this model"
  ) -> String? {
    firstDifference(
      stored: encode(stored.identity), current: encode(current.identity), storedName: storedName,
      currentName: currentName)
  }

  /// The same over two encoded JSON documents (any Encodable, e.g. two pipelines).
  public static func firstDifference(
    stored: [UInt8], current: [UInt8], storedName: String, currentName: String
  ) -> String? {
    guard stored != current else { return nil }
    guard let a = try? JSONSerialization.jsonObject(with: Data(stored), options: [.fragmentsAllowed]),
      let b = try? JSONSerialization.jsonObject(with: Data(current), options: [.fragmentsAllowed])
    else { return "the model differs" }
    let (path, x, y) = diff(a, b, path: "") ?? ("", a, b)
    return "`\(path.isEmpty ? "(the model)" : path)` is \(render(x)) in \(storedName), \(render(y)) in \(currentName)"
  }

  /// (path, stored value, current value) of the first difference in document order.
  private static func diff(_ a: Any?, _ b: Any?, path: String) -> (String, Any?, Any?)? {
    switch (a, b) {
    case (let x as [String: Any], let y as [String: Any]):
      // Shapes before what follows from them (a width change also changes initializer fans).
      let keys = Set(x.keys).union(y.keys).sorted { a, b in
        (a == "shape" ? 0 : 1, a) < (b == "shape" ? 0 : 1, b)
      }
      for k in keys {
        let p = path.isEmpty ? k : path + "." + k
        if let d = diff(x[k], y[k], path: p) { return d }
      }
      return nil
    case (let x as [Any], let y as [Any]) where (x + y).contains { $0 is [Any] || $0 is [String: Any] }:
      for i in 0..<max(x.count, y.count) {
        let xi: Any? = i < x.count ? x[i] : nil
        let yi: Any? = i < y.count ? y[i] : nil
        // Elements with a name are named, not numbered: `params[experts.shared.layer0.w]`.
        let name = ((xi as? [String: Any])?["name"] as? String) ?? ((yi as? [String: Any])?["name"] as? String)
        if let d = diff(xi, yi, path: path + "[\(name ?? String(i))]") { return d }
      }
      return nil
    default:
      let ex = a.map { render($0) } ?? "nil"
      let ey = b.map { render($0) } ?? "nil"
      return ex == ey ? nil : (path, a, b)
    }
  }

  private static func render(_ v: Any?) -> String {
    guard let v else { return "absent" }
    if v is NSNull { return "null" }
    guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]),
      var s = String(data: d, encoding: .utf8)
    else { return "\(v)" }
    s = s.replacingOccurrences(of: "\\/", with: "/")
    return s.count > 80 ? String(s.prefix(77)) + "..." : s
  }
}
