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
    try AtomicFile.write(encode(g, relativeTo: Paths.directory(of: path)), to: path)
  }

  /// The file's bytes with data paths relative to `dir` (where the file will be).
  public static func encode(_ g: Graph, relativeTo dir: String) -> [UInt8] {
    var g = g
    g.pipeline.train = Paths.relative(g.pipeline.train, from: dir)
    g.pipeline.test = g.pipeline.test.map { Paths.relative($0, from: dir) }
    g.pipeline.validation = g.pipeline.validation.map { Paths.relative($0, from: dir) }
    return encode(g)
  }

  public static func decode(_ bytes: [UInt8], path: String) throws -> Graph {
    // Check the header fields first, so an old or foreign file gets a clear message.
    struct Header: Decodable {
      var format: String?
      var version: Int?
    }
    let header: Header
    do { header = try JSONDecoder().decode(Header.self, from: Data(bytes)) } catch {
      let (why, offset) = syntaxError(bytes)
      let at = offset.map { o -> String in
        let before = bytes[..<min(o, bytes.count)]
        let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        let column = o - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
        return ":\(line):\(column)"
      }
      throw Error(
        path: path + (at ?? ""),
        reason: "not a compiled mtlc model (not JSON: \(why)); compile a spec with `mtlc compile`")
    }
    guard header.format == Graph.formatName else {
      throw Error(path: path, reason: "not a compiled mtlc model (format is `\(header.format ?? "missing")`)")
    }
    guard header.version == Graph.formatVersion else {
      throw Error(
        path: path,
        reason:
          "model format version \(header.version.map(String.init) ?? "missing") is not supported (this mtlc reads \(Graph.formatVersion)); compile the spec again"
      )
    }
    let g: Graph
    do { g = try JSONDecoder().decode(Graph.self, from: Data(bytes)) } catch let e as DecodingError {
      let (at, why) = describe(e)
      throw located(path, bytes, at, "invalid model file: \(why)")
    } catch {
      throw Error(path: path, reason: "invalid model file: \(error)")
    }
    if let p = g.check() { throw located(path, bytes, p.path, "invalid model: \(p)") }
    return g
  }

  /// An error at the line and column where `jsonPath` (`params[3].shape`) starts in the file.
  static func located(_ path: String, _ bytes: [UInt8], _ jsonPath: String, _ reason: String) -> Error {
    guard let (line, col) = JSONLocator.locate(jsonPath, in: bytes) else { return Error(path: path, reason: reason) }
    return Error(path: "\(path):\(line):\(col)", reason: reason)
  }

  static func describe(_ e: DecodingError) -> (path: String, why: String) {
    func text(_ p: [CodingKey]) -> String {
      var s = ""
      for k in p {
        if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
      }
      return s
    }
    switch e {
    case .keyNotFound(let k, let c):
      let at = text(c.codingPath)
      return (at, "`\(at.isEmpty ? k.stringValue : at + "." + k.stringValue)` is missing")
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
      let at = text(c.codingPath)
      return (at, (at.isEmpty ? "" : "`\(at)`: ") + c.debugDescription)
    @unknown default:
      return ("", "\(e)")
    }
  }

  /// What is wrong with text that is not JSON: the parser's own words (Foundation's decoder says
  /// only "not valid JSON"), without a trailing period.
  /// The byte offset when the parser names one ("around character 10").
  static func syntaxError(_ bytes: [UInt8]) -> (why: String, offset: Int?) {
    do {
      _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
      return ("not an object", nil)
    } catch {
      var why = (error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"
      if why.hasSuffix(".") { why.removeLast() }
      var offset: Int?
      if let r = why.range(of: " around character ") {
        offset = Int(why[r.upperBound...].prefix { $0.isNumber })
        why = String(why[..<r.lowerBound])
      }
      return (why, offset)
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
    g.pipeline.validation = g.pipeline.validation.map { Paths.resolve($0, against: dir) }
    return g
  }
}

extension Graph {
  /// Binds embedding row counts from vocabulary sizes (feature name -> rows), and the width of
  /// each multiclass task whose classes are learned from its class list (task name -> classes).
  public func bound(vocabularyRows: [String: Int], classes: [String: [String]] = [:]) -> Graph {
    var g = self
    for i in g.params.indices {
      if let f = g.params[i].rowsFrom, let n = vocabularyRows[f] { g.params[i].shape[0] = n }
      if let t = g.params[i].colsFrom, let cs = classes[t] {
        g.params[i].shape[g.params[i].shape.count - 1] = cs.count
        if case .glorotUniform(let fanIn, _) = g.params[i].initializer {
          g.params[i].initializer = .glorotUniform(fanIn: fanIn, fanOut: cs.count)
        }
      }
    }
    for i in g.values.indices {
      if let t = g.values[i].widthFrom, let cs = classes[t] { g.values[i].width = cs.count }
    }
    for i in g.tasks.indices where g.tasks[i].type == .multiclass && g.tasks[i].classes?.isEmpty != false {
      if let cs = classes[g.tasks[i].name] { g.tasks[i].classes = cs }
    }
    return g
  }

  public var isBound: Bool {
    params.allSatisfy { $0.shape.allSatisfy { $0 > 0 } } && values.allSatisfy { $0.width > 0 }
  }
}
