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

/// A file written in pieces, for outputs too large to hold (`mtlc synth`): bytes go through a
/// 1 MiB buffer into a temporary sibling, and `commit()` flushes, fsyncs and renames it over the
/// target, so the target is either the old file or the whole new one. Not committed (an error, an
/// interrupt), the temporary file is removed. Path `-` streams to standard output instead.
public final class StreamingFile {
  public let path: String
  private let tmp: String?
  private let fd: Int32
  private var buffer: [UInt8] = []
  private var done = false

  public init(_ path: String) throws {
    self.path = path
    if path == "-" {
      tmp = nil
      fd = 1
    } else {
      let t = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
      fd = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      guard fd >= 0 else { throw FileError(path: path, reason: errnoText()) }
      tmp = t
    }
    buffer.reserveCapacity(1 << 20)
  }

  deinit { if !done { abandon() } }

  public func write(_ text: String) throws {
    buffer.append(contentsOf: text.utf8)
    if buffer.count >= 1 << 20 { try flush() }
  }

  private func flush() throws {
    try buffer.withUnsafeBytes { raw in
      var off = 0
      while off < raw.count {
        let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          throw FileError(path: path, reason: errnoText())
        }
        off += n
      }
    }
    buffer.removeAll(keepingCapacity: true)
  }

  /// Writes what is buffered and puts the file in place.
  public func commit() throws {
    try flush()
    done = true
    guard let tmp else { return }
    defer { close(fd) }
    guard fsync(fd) == 0, rename(tmp, path) == 0 else {
      let r = errnoText()
      unlink(tmp)
      throw FileError(path: path, reason: r)
    }
  }

  /// Drops the temporary file (the target is left as it was).
  public func abandon() {
    done = true
    guard let tmp else { return }
    close(fd)
    unlink(tmp)
  }
}
