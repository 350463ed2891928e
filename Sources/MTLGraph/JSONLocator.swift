/// Finds where a value starts in a JSON text, by its path (`params[3].shape`), so an error in a
/// model file is reported at `file:line:col` like a spec error. Foundation's decoders report only
/// coding paths. A scan without building a tree; nil when the path is not in the text or the text
/// is not well-formed up to it.
enum JSONLocator {
  enum Component: Equatable {
    case key(String)
    case index(Int)
  }

  static func components(_ path: String) -> [Component]? {
    var out: [Component] = []
    var i = path.startIndex
    while i < path.endIndex {
      if path[i] == "." {
        i = path.index(after: i)
      } else if path[i] == "[" {
        guard let close = path[i...].firstIndex(of: "]"), let n = Int(path[path.index(after: i)..<close]) else {
          return nil
        }
        out.append(.index(n))
        i = path.index(after: close)
      } else {
        let end = path[i...].firstIndex { $0 == "." || $0 == "[" } ?? path.endIndex
        out.append(.key(String(path[i..<end])))
        i = end
      }
    }
    return out
  }

  /// 1-based line and column (in bytes) of the value at `path`.
  static func locate(_ path: String, in bytes: [UInt8]) -> (line: Int, column: Int)? {
    guard let target = components(path) else { return nil }
    var p = 0
    let n = bytes.count
    func skipSpace() {
      while p < n, bytes[p] == 0x20 || bytes[p] == 0x0A || bytes[p] == 0x0D || bytes[p] == 0x09 { p += 1 }
    }
    func string() -> String? {
      guard p < n, bytes[p] == UInt8(ascii: "\"") else { return nil }
      p += 1
      let start = p
      var escaped = false
      while p < n {
        let c = bytes[p]
        if escaped {
          escaped = false
        } else if c == UInt8(ascii: "\\") {
          escaped = true
        } else if c == UInt8(ascii: "\"") {
          let s = String(decoding: bytes[start..<p], as: UTF8.self)
          p += 1
          return s
        }
        p += 1
      }
      return nil
    }
    // Returns true when the value at `depth` of `target` was found (p is then at its start).
    func value(_ depth: Int) -> Bool? {
      skipSpace()
      guard p < n else { return nil }
      if depth == target.count { return true }
      switch bytes[p] {
      case UInt8(ascii: "{"):
        p += 1
        while true {
          skipSpace()
          if p < n, bytes[p] == UInt8(ascii: "}") {
            p += 1
            return false
          }
          guard let k = string() else { return nil }
          skipSpace()
          guard p < n, bytes[p] == UInt8(ascii: ":") else { return nil }
          p += 1
          if target[depth] == .key(k) {
            skipSpace()
            return value(depth + 1)
          }
          guard skip() else { return nil }
          skipSpace()
          if p < n, bytes[p] == UInt8(ascii: ",") { p += 1 }
        }
      case UInt8(ascii: "["):
        p += 1
        var i = 0
        while true {
          skipSpace()
          if p < n, bytes[p] == UInt8(ascii: "]") {
            p += 1
            return false
          }
          if target[depth] == .index(i) { return value(depth + 1) }
          guard skip() else { return nil }
          skipSpace()
          if p < n, bytes[p] == UInt8(ascii: ",") { p += 1 }
          i += 1
        }
      default:
        return false
      }
    }
    // Skips one value.
    func skip() -> Bool {
      skipSpace()
      guard p < n else { return false }
      switch bytes[p] {
      case UInt8(ascii: "\""): return string() != nil
      case UInt8(ascii: "{"), UInt8(ascii: "["):
        var depth = 0
        while p < n {
          let c = bytes[p]
          if c == UInt8(ascii: "\"") {
            guard string() != nil else { return false }
            continue
          }
          if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
          if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
            depth -= 1
            if depth == 0 {
              p += 1
              return true
            }
          }
          p += 1
        }
        return false
      default:
        while p < n, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[p]) { p += 1 }
        return true
      }
    }
    guard value(0) == true else { return nil }
    var line = 1
    var lineStart = 0
    for i in 0..<p where bytes[i] == 0x0A {
      line += 1
      lineStart = i + 1
    }
    return (line, p - lineStart + 1)
  }
}
