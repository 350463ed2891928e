#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

public struct FileError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  /// The file was larger than the reader's limit.
  public var tooLarge = false
  public var description: String { "\(path): \(reason)" }
  public init(path: String, reason: String, tooLarge: Bool = false) {
    self.path = path
    self.reason = reason
    self.tooLarge = tooLarge
  }
}

/// Files are written to a temporary sibling, flushed with fsync, then renamed over the target, so
/// a reader (or a crash) sees either the old file or the new one, never half of either.
public enum AtomicFile {
  public static func write(_ bytes: [UInt8], to path: String) throws {
    // A name of its own per write, so two writers of one path never share a temporary file.
    let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw FileError(path: path, reason: errnoText()) }
    var ok = true
    var reason = ""
    bytes.withUnsafeBytes { raw in
      var off = 0
      while off < raw.count {
        let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          ok = false
          reason = errnoText()
          return
        }
        off += n
      }
    }
    if ok && fsync(fd) != 0 {
      ok = false
      reason = errnoText()
    }
    close(fd)
    guard ok else {
      unlink(tmp)
      throw FileError(path: path, reason: reason)
    }
    if rename(tmp, path) != 0 {
      let r = errnoText()
      unlink(tmp)
      throw FileError(path: path, reason: r)
    }
    // Make the rename itself durable.
    let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY)
    if dfd >= 0 {
      fsync(dfd)
      close(dfd)
    }
  }

  public static func write(_ text: String, to path: String) throws {
    try write(Array(text.utf8), to: path)
  }

  /// Reads a whole file, refusing files larger than `limit` bytes.
  public static func read(_ path: String, limit: Int = Int.max) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw FileError(path: path, reason: errnoText()) }
    defer { close(fd) }
    var st = stat()
    if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
      throw FileError(path: path, reason: "is a directory")
    }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw FileError(path: path, reason: errnoText())
      }
      if n == 0 { break }
      out.append(contentsOf: buf[0..<n])
      if out.count > limit {
        throw FileError(path: path, reason: "file is larger than the limit of \(limit) bytes", tooLarge: true)
      }
    }
    return out
  }

  public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

func errnoText() -> String { String(cString: strerror(errno)) }
