#if canImport(Glibc)
  import Glibc
#endif

/// Lexical path arithmetic (no file system access beyond the working directory).
public enum Paths {
  /// `path` with `.` and `..` folded away lexically (`a/./b/../c` -> `a/c`).
  public static func normalize(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    var out: [Substring] = []
    for part in path.split(separator: "/") {
      if part == "." || part.isEmpty { continue }
      if part == "..", let last = out.last, last != ".." {
        out.removeLast()
      } else if part == ".." && absolute {
        continue
      } else {
        out.append(part)
      }
    }
    let joined = out.joined(separator: "/")
    return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
  }

  /// The folder part of `path` ("" for a bare file name).
  public static func directory(of path: String) -> String {
    guard let i = path.lastIndex(of: "/") else { return "" }
    return i == path.startIndex ? "/" : String(path[..<i])
  }

  /// `path` resolved against `dir` (unless absolute), normalised.
  public static func resolve(_ path: String, against dir: String) -> String {
    if path.hasPrefix("/") || dir.isEmpty { return normalize(path) }
    return normalize(dir + "/" + path)
  }

  /// `path` made absolute against the working directory.
  public static func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return normalize(path) }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return normalize(path) }
    let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return normalize(cwd + "/" + path)
  }

  /// A relative path that leads from folder `dir` to `path` (both made absolute first).
  public static func relative(_ path: String, from dir: String) -> String {
    let target = absolute(path).split(separator: "/")
    let base = absolute(dir.isEmpty ? "." : dir).split(separator: "/")
    var common = 0
    while common < target.count && common < base.count && target[common] == base[common] { common += 1 }
    let ups = Array(repeating: "..", count: base.count - common)
    let rest = target[common...].map(String.init)
    let parts = ups + rest
    return parts.isEmpty ? "." : parts.joined(separator: "/")
  }
}
