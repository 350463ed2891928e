// gzip-compressed data files: a file that starts with gzip's magic bytes (1f 8b) is inflated in
// memory before it is parsed, whatever its name (`.csv.gz` by convention). zlib does the work
// (Debian zlib1g-dev); concatenated gzip members, as `cat a.gz b.gz` makes, are read one after
// the other. The inflated size has the in-memory reader's ceiling, checked as it grows, so a
// small file that inflates without end is an error, not an exhausted machine.
import CZlib

extension RawTable {
  /// `bytes` inflated when they are a gzip file (`Gzip`), else as they are.
  public static func inflatedIfCompressed(_ bytes: [UInt8], path: String) throws -> [UInt8] {
    Gzip.isCompressed(bytes) ? try Gzip.inflate(bytes, path: path, limit: Int(UInt32.max) - 1) : bytes
  }
}

enum Gzip {
  static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }

  /// The inflated bytes of a gzip file, or a DataError naming the file.
  static func inflate(_ input: [UInt8], path: String, limit: Int) throws -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(min(limit, max(input.count * 4, 1 << 16)))
    var chunk = [UInt8](repeating: 0, count: 1 << 18)
    var strm = z_stream()
    // 16 + MAX_WBITS: a gzip wrapper (not zlib's or raw deflate).
    guard inflateInit2_(&strm, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw DataError(path: path, message: "cannot start decompressing (zlib)")
    }
    defer { inflateEnd(&strm) }
    try input.withUnsafeBufferPointer { inBuf in
      strm.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress!)
      strm.avail_in = UInt32(inBuf.count)
      while true {
        let status: Int32 = chunk.withUnsafeMutableBufferPointer { c in
          strm.next_out = c.baseAddress!
          strm.avail_out = UInt32(c.count)
          let s = CZlib.inflate(&strm, Z_NO_FLUSH)
          out.append(contentsOf: c[0..<(c.count - Int(strm.avail_out))])
          return s
        }
        if out.count > limit {
          throw DataError(path: path, message: "the file inflates to more than \(limit / (1 << 20)) MiB")
        }
        switch status {
        case Z_STREAM_END:
          // Another gzip member may follow (concatenated files).
          guard strm.avail_in > 0 else { return }
          guard inflateReset(&strm) == Z_OK else { throw DataError(path: path, message: "corrupt gzip data") }
        case Z_OK:
          continue
        case Z_BUF_ERROR where strm.avail_in == 0:
          throw DataError(path: path, message: "the gzip data is truncated")
        default:
          let why = strm.msg.map { String(cString: $0) } ?? "error \(status)"
          throw DataError(path: path, message: "corrupt gzip data (\(why))")
        }
      }
    }
    return out
  }
}
