// Reading data files a piece at a time, for data larger than memory.
//
// `RecordChunks` reads one or more files in turn (plain or gzip-compressed, inflated as they
// stream) and hands out each piece of about `chunkBytes` as a parsed `RawTable`, cut at a record
// boundary: a line end outside a quoted field, found by the parser's own quoting rules. A file's
// first piece holds its header; the later ones are parsed with its column names and their first
// line number, so every error still names the file, line and column. `DataFiles.expand` turns
// `train: logs/day-*.tsv.gz` into the files it names, sorted.

import CZlib
import MTLGraph
import MTLSupport

#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

public enum DataFiles {
  /// Whether `path` is a glob pattern (holds `*`, `?` or `[`).
  public static func isPattern(_ path: String) -> Bool { path.contains { "*?[".contains($0) } }

  /// The files a data path names: itself, or for a pattern the regular files matching it, sorted
  /// by name (a DataError when none does).
  public static func expand(_ path: String) throws -> [String] {
    guard isPattern(path) else { return [path] }
    var g = glob_t()
    defer { globfree(&g) }
    let status = glob(path, 0, nil, &g)
    guard status == 0 else {
      throw DataError(
        path: path,
        message: status == GLOB_NOMATCH
          ? "no file matches the pattern" : "cannot expand the pattern (glob error \(status))")
    }
    var out: [String] = []
    for i in 0..<Int(g.gl_pathc) {
      guard let p = g.gl_pathv[i] else { continue }
      let name = String(cString: p)
      var st = stat()
      if stat(name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { out.append(name) }
    }
    guard !out.isEmpty else { throw DataError(path: path, message: "no regular file matches the pattern") }
    return out.sorted()
  }

  /// The files of several data paths, in order.
  public static func expand(_ paths: [String]) throws -> [String] { try paths.flatMap { try expand($0) } }
}

/// A file's bytes, a block at a time: read as they are, or inflated when the file starts with
/// gzip's magic bytes (concatenated members one after the other).
final class ByteStream {
  let path: String
  let fd: Int32
  var gzip = false
  var strm = z_stream()
  var inBuf = [UInt8](repeating: 0, count: 1 << 20)
  var inEnd = false
  var finished = false
  /// Raw bytes read from the file (for the compression ratio and progress).
  var rawBytes = 0

  init(path: String) throws {
    self.path = path
    fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw DataError(path: path, message: "cannot read the file: \(String(cString: strerror(errno)))")
    }
    var st = stat()
    if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
      close(fd)
      throw DataError(path: path, message: "cannot read the file: it is a directory")
    }
    // Peek at the magic bytes.
    var magic: [UInt8] = [0, 0]
    let n = pread(fd, &magic, 2, 0)
    if n == 2 && magic[0] == 0x1F && magic[1] == 0x8B {
      gzip = true
      guard inflateInit2_(&strm, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        close(fd)
        throw DataError(path: path, message: "cannot start decompressing (zlib)")
      }
    }
  }

  deinit {
    if gzip { inflateEnd(&strm) }
    close(fd)
  }

  /// Raw bytes from the file into `buf`; 0 at its end.
  func readRaw(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      let n = read(fd, buf.baseAddress!, buf.count)
      if n >= 0 {
        rawBytes += n
        return n
      }
      if errno == EINTR { continue }
      throw DataError(path: path, message: "cannot read the file: \(String(cString: strerror(errno)))")
    }
  }

  /// Appends up to `max` bytes (inflated when compressed) to `out`; false at the end of the file.
  func append(to out: inout [UInt8], max: Int) throws -> Bool {
    if finished { return false }
    let start = out.count
    out.reserveCapacity(start + max)
    if !gzip {
      var got = 0
      while got < max {
        let n: Int = try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Swift.min(max - got, 1 << 22)) {
          tmp in
          let n = try readRaw(UnsafeMutableRawBufferPointer(tmp))
          out.append(contentsOf: tmp[0..<n])
          return n
        }
        if n == 0 {
          finished = true
          break
        }
        got += n
      }
      return out.count > start || !finished
    }
    var chunk = [UInt8](repeating: 0, count: 1 << 18)
    while out.count - start < max {
      if strm.avail_in == 0 && !inEnd {
        let n = try inBuf.withUnsafeMutableBytes { try readRaw($0) }
        if n == 0 { inEnd = true }
        inBuf.withUnsafeMutableBufferPointer { strm.next_in = $0.baseAddress! }
        strm.avail_in = UInt32(n)
      }
      let status: Int32 = chunk.withUnsafeMutableBufferPointer { c in
        strm.next_out = c.baseAddress!
        strm.avail_out = UInt32(c.count)
        let s = CZlib.inflate(&strm, Z_NO_FLUSH)
        out.append(contentsOf: c[0..<(c.count - Int(strm.avail_out))])
        return s
      }
      switch status {
      case Z_STREAM_END:
        // Another gzip member may follow (concatenated files).
        if strm.avail_in == 0 && !inEnd {
          let n = try inBuf.withUnsafeMutableBytes { try readRaw($0) }
          if n == 0 { inEnd = true }
          inBuf.withUnsafeMutableBufferPointer { strm.next_in = $0.baseAddress! }
          strm.avail_in = UInt32(n)
        }
        if strm.avail_in == 0 && inEnd {
          finished = true
          return out.count > start
        }
        guard inflateReset(&strm) == Z_OK else { throw DataError(path: path, message: "corrupt gzip data") }
      case Z_OK:
        continue
      case Z_BUF_ERROR where strm.avail_in == 0 && inEnd:
        throw DataError(path: path, message: "the gzip data is truncated")
      case Z_BUF_ERROR:
        continue
      default:
        let why = strm.msg.map { String(cString: $0) } ?? "error \(status)"
        throw DataError(path: path, message: "corrupt gzip data (\(why))")
      }
    }
    return true
  }
}

/// The records of one or more data files, a parsed piece at a time.
public final class RecordChunks {
  public let files: [String]
  let delimiter: String
  let delimiterByte: UInt8
  let columns: [String]?
  let onBadRow: BadRowPolicy
  let chunkBytes: Int
  var fileIndex = -1
  var stream: ByteStream?
  var pending: [UInt8] = []
  /// The line the pending bytes start on, and the current file's column names once read.
  var line = 1
  var header: [String]?
  var rowsInFile = 0
  /// Raw (compressed) bytes of the files finished so far.
  public private(set) var rawBytesDone = 0
  /// The longest record read: a piece grows to hold one, up to this (1 GiB by default).
  let maxRecordBytes: Int

  public init(
    files: [String], delimiter: String, columns: [String]?, onBadRow: BadRowPolicy, chunkBytes: Int = 16 << 20,
    maxRecordBytes: Int = 1 << 30
  ) throws {
    self.maxRecordBytes = max(maxRecordBytes, chunkBytes)
    precondition(!files.isEmpty && chunkBytes > 0)
    self.files = files
    self.delimiter = delimiter
    self.delimiterByte = try RawTable.delimiterByte(delimiter, path: files[0])
    self.columns = columns
    self.onBadRow = onBadRow
    self.chunkBytes = chunkBytes
  }

  /// The next piece, parsed (bad rows not yet dropped), with the file it comes from; nil after
  /// the last file's last piece.
  public func next() throws -> RawTable? {
    while true {
      if stream == nil {
        fileIndex += 1
        guard fileIndex < files.count else { return nil }
        stream = try ByteStream(path: files[fileIndex])
        pending.removeAll(keepingCapacity: true)
        line = 1
        header = nil
        rowsInFile = 0
      }
      let s = stream!
      var target = chunkBytes
      var end: Int? = nil
      var more = true
      while true {
        if pending.count < target && more { more = try s.append(to: &pending, max: target - pending.count) }
        if !more || s.finished {
          more = false
          end = pending.count
          break
        }
        if let b = RecordChunks.lastBoundary(pending, delimiter: delimiterByte, trim: delimiterByte != 0x20) {
          end = b
          break
        }
        // One record longer than the piece: read on, up to a bound (an unterminated quote would
        // otherwise read the whole file into memory looking for the record's end).
        guard target < maxRecordBytes else {
          let limit = maxRecordBytes >= 1 << 20 ? "\(maxRecordBytes >> 20) MiB" : "\(maxRecordBytes) bytes"
          throw DataError(
            path: files[fileIndex], row: line,
            message: "no record ends within \(limit) of this line (an unterminated quoted field?)")
        }
        target *= 2
      }
      let cut = end!
      if cut == 0 && !more {
        // The file is done.
        rawBytesDone += s.rawBytes
        let empty = header == nil
        stream = nil
        if empty {
          // An empty file: the parser's error.
          _ = try RawTable.parse(
            [], path: files[fileIndex], delimiter: delimiter, onBadRow: onBadRow, columns: columns)
        }
        if rowsInFile == 0 {
          throw DataError(path: files[fileIndex], message: "the file has a header but no data rows")
        }
        continue
      }
      let piece = Array(pending[0..<cut])
      pending.removeSubrange(0..<cut)
      let first = header == nil
      let startLine = line
      line += RecordChunks.lineCount(piece)
      let file = files[fileIndex]
      let t = try RawTable.parse(
        piece, path: file, delimiter: delimiter, onBadRow: onBadRow, columns: first ? columns : header,
        firstLine: startLine, allowNoRows: true)
      header = t.header
      rowsInFile += t.rowCount
      if !more && pending.isEmpty {
        // The file's last piece: it must have had rows.
        rawBytesDone += s.rawBytes
        stream = nil
        if rowsInFile == 0 {
          if !t.skipped.isEmpty { throw t.skipped.nothingLeft() }
          throw DataError(path: file, message: "the file has a header but no data rows")
        }
      }
      return t
    }
  }

  /// Line ends in `b` as the parser counts them: LF, CRLF and a lone CR each end one line.
  static func lineCount(_ b: [UInt8]) -> Int {
    var n = 0
    for i in b.indices {
      if b[i] == 0x0A {
        n += 1
      } else if b[i] == 0x0D && !(i + 1 < b.count && b[i + 1] == 0x0A) {
        n += 1
      }
    }
    return n
  }

  /// The offset just past the last LF that ends a record (outside a quoted field), or nil. A
  /// quote opens a field only at its start (after spaces when `trim`), as the parser reads it.
  static func lastBoundary(_ b: [UInt8], delimiter: UInt8, trim: Bool) -> Int? {
    var last: Int? = nil
    var i = 0
    let n = b.count
    var fieldStart = true
    while i < n {
      let c = b[i]
      if fieldStart {
        if trim && c == 0x20 {
          i += 1
          continue
        }
        fieldStart = false
        if c == 0x22 {
          // A quoted field: to its closing quote ("" is an escaped quote).
          i += 1
          while i < n {
            if b[i] == 0x22 {
              if i + 1 < n && b[i + 1] == 0x22 {
                i += 2
                continue
              }
              break
            }
            i += 1
          }
          if i >= n { return last }
          i += 1
          continue
        }
      }
      if c == delimiter {
        fieldStart = true
      } else if c == 0x0A {
        fieldStart = true
        last = i + 1
      } else if c == 0x0D {
        fieldStart = true
      }
      i += 1
    }
    return last
  }
}
