// The data cache: encoded data sets kept on disk, so that later runs do not parse the CSV again.
//
// `LoadedData.load` reads the train (and test) file, hashes the bytes with the pipeline, and looks
// for `<cache dir>/<16 hex digits>.mtlcdata`. When that file is present and intact it *is* the
// result: the fitted pipeline and both encoded data sets, exactly as a fresh load builds them.
// Otherwise the files are parsed, fitted and encoded as usual and the result is written there.
// Writing is best effort: a cache that cannot be written never fails a load.
//
// Where. `$MTLC_CACHE_DIR` when set; else `$XDG_CACHE_HOME/mtlc` when that is an absolute path;
// else `$HOME/.cache/mtlc`. `MTLC_CACHE_DIR=off` (or `none`) turns the cache off. The directory is
// created on the first write.
//
// The key. FNV-1a 64 over: the format version; the train file's contents; a marker for "no test
// file" or the test file's contents; the pipeline as JSON with sorted keys (the test fraction and
// split seed, the delimiter, every feature with its vocabulary and missing markers, the labels and
// their rules, and `onBadRow` when it is `skip`). A file's contents enter as its size and a 64-bit digest of its bytes taken 8 bytes
// at a time (`contentHash`: a byte-serial FNV-1a over a 3.5 MB file costs 3-5 ms, as much as the
// rest of a hit; the digest costs 0.3 ms).
// The data *paths* are left out of the key: the files' contents stand for them, so a copied or
// moved file, or the same file named relative to another folder, still hits. Any change to a byte
// of the data or to the pipeline is a different key, hence a miss.
//
// Never trusted. An entry is used only when its CRC-32 matches, its header names the same key and
// the same pipeline, and every size adds up; anything else (truncated, corrupted, foreign, another
// version) is ignored and rewritten. Files are written to a temporary sibling, fsynced and renamed
// (`AtomicFile`), so a concurrent run sees a whole file or none.
//
// Safe to delete. Any file in the directory, or the whole directory, may be deleted at any time
// (stray `*.tmp-PID` files are left by a crash while writing). Nothing is evicted automatically:
// each distinct input leaves one file, about as large as the encoded data (per example, 8 bytes
// for its row and 4 per feature and label: 2.2 MB for adult). Data over 2 GiB is not cached.
//
// File layout, little-endian:
//
//     8   magic "MTLCDATA"
//     4   format version, u32 (`DataCache.formatVersion`)
//     4   header length H, u32
//     H   header, JSON: `key` (hex), `fitted` (the fitted pipeline, data paths blanked), and for
//         `train` and `test`: `count`, `sparseWidth`, `denseWidth`, `labelWidth`, `missingCounts`,
//         `unseenCounts`; `trainSkipped` and `testSkipped` (what `on_bad_row: skip` dropped,
//         paths blanked) when not empty
//     ... the train set, then the test set, each: sparse Int32 [N, S], dense Float32 [N, D],
//         labels Float32 [N, L], rows Int64 [N]
//     4   CRC-32 (IEEE) of every byte before it

import Foundation  // JSONEncoder and JSONDecoder only: the key's pipeline text and the file header.
import MTLGraph
import MTLSupport

#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

/// A directory of encoded data sets, keyed by the data files' contents and the pipeline.
public struct DataCache: Equatable, Sendable {
  /// Bumped whenever the file layout or the encoding of any value changes.
  public static let formatVersion: UInt32 = 2
  public static let fileExtension = "mtlcdata"
  static let magic: [UInt8] = Array("MTLCDATA".utf8)

  /// Where entries live; created on the first write.
  public var directory: String
  /// Data sets whose cache file would be larger than this are not cached.
  public var maxBytes: Int

  public init(directory: String, maxBytes: Int = 2 << 30) {
    self.directory = directory
    self.maxBytes = maxBytes
  }

  /// The cache named by the environment (see the top of Cache.swift); nil when turned off.
  public static var `default`: DataCache? {
    fromEnvironment { name in getenv(name).map { String(cString: $0) } }
  }

  /// `MTLC_CACHE_DIR` (`off` or `none`: no cache), else `XDG_CACHE_HOME/mtlc` (when absolute),
  /// else `HOME/.cache/mtlc`, else no cache. Empty variables count as unset.
  public static func fromEnvironment(_ variable: (String) -> String?) -> DataCache? {
    func value(_ name: String) -> String? {
      guard let v = variable(name), !v.isEmpty else { return nil }
      return v
    }
    if let dir = value("MTLC_CACHE_DIR") {
      let lower = dir.lowercased()
      return lower == "off" || lower == "none" ? nil : DataCache(directory: dir)
    }
    if let xdg = value("XDG_CACHE_HOME"), xdg.hasPrefix("/") { return DataCache(directory: xdg + "/mtlc") }
    if let home = value("HOME") { return DataCache(directory: home + "/.cache/mtlc") }
    return nil
  }

  /// The file of entry `key`.
  public func path(forKey key: UInt64) -> String {
    directory + "/" + DataCache.hex(key) + "." + DataCache.fileExtension
  }

  /// The key of a load: `pipeline` as given (its data paths are ignored), the train file's bytes,
  /// and the test file's bytes, nil when the test set is held out of the train file.
  public static func key(pipeline: Pipeline, train: [UInt8], test: [UInt8]?, validation: [UInt8]? = nil) -> UInt64 {
    var h = FNV1a64()
    h.add(Array("mtlc-data-cache".utf8))
    h.add(UInt64(formatVersion))
    h.add(UInt64(train.count))
    h.add(train.withUnsafeBytes(contentHash))
    if let test {
      h.add(UInt64(1))
      h.add(UInt64(test.count))
      h.add(test.withUnsafeBytes(contentHash))
    } else {
      h.add(UInt64(0))
    }
    // Only with a validation file, so the keys of entries without one are unchanged.
    if let validation {
      h.add(UInt64(2))
      h.add(UInt64(validation.count))
      h.add(validation.withUnsafeBytes(contentHash))
    }
    let json = pipelineJSON(keyed(pipeline))
    h.add(UInt64(json.count))
    h.add(json)
    return h.value
  }

  /// Whether this platform can read and write the format (raw little-endian arrays, 64-bit Int).
  static var supported: Bool {
    #if _endian(little)
      return Int.bitWidth == 64
    #else
      return false
    #endif
  }

  /// What a load did with the cache.
  public struct Report: Equatable, Sendable {
    /// The entry's file; nil when caching was off.
    public var path: String?
    /// The data came from the cache.
    public var hit = false
    /// Why an existing entry was not used (truncated, corrupted, foreign...); nil when none existed.
    public var rejected: String?
    /// Why the loaded data was not written to the cache; nil when it was, or on a hit.
    public var notStored: String?

    public init(path: String?) { self.path = path }

    /// A new entry was written.
    public var stored: Bool { path != nil && !hit && notStored == nil }
  }

  // MARK: Reading

  enum Lookup {
    case hit(LoadedData)
    case missing
    case rejected(String)
  }

  /// The entry of `key` at `path`, checked against `pipeline` (with its data paths blanked).
  func lookup(key: UInt64, path: String, pipeline: Pipeline) -> Lookup {
    let bytes: [UInt8]
    switch readRegularFile(path, limit: maxBytes) {
    case .missing: return .missing
    case .failed(let reason): return .rejected(reason)
    case .bytes(let b): bytes = b
    }
    do {
      return .hit(try DataCache.decode(bytes, key: key, pipeline: pipeline))
    } catch let e as CacheFileError {
      return .rejected(e.reason)
    } catch {
      return .rejected("\(error)")
    }
  }

  struct CacheFileError: Error {
    var reason: String
  }

  struct SetHeader: Codable {
    var count: Int
    var sparseWidth: Int
    var denseWidth: Int
    var labelWidth: Int
    var missingCounts: [Int]
    var unseenCounts: [Int]
    /// Per label: rows whose class is not the task's (absent when every count is 0).
    var unseenClassCounts: [Int]?
    /// Per sparse feature: values past a multi-valued feature's `maxLength` (absent when every
    /// count is 0, so entries without multi-valued features are unchanged).
    var truncatedCounts: [Int]?

    init(_ d: Dataset) {
      count = d.count
      sparseWidth = d.sparseWidth
      denseWidth = d.denseWidth
      labelWidth = d.labelWidth
      missingCounts = d.missingCounts
      unseenCounts = d.unseenCounts
      unseenClassCounts = d.unseenClassCounts.contains { $0 > 0 } ? d.unseenClassCounts : nil
      truncatedCounts = d.truncatedCounts.contains { $0 > 0 } ? d.truncatedCounts : nil
    }

    /// Bytes of the set's arrays, or nil on overflow or negative sizes.
    var byteCount: Int? {
      guard count >= 0, sparseWidth >= 0, denseWidth >= 0, labelWidth >= 0 else { return nil }
      let (perRow, o1) = (sparseWidth + denseWidth + labelWidth).multipliedReportingOverflow(by: 4)
      let (total, o2) = (perRow + 8).multipliedReportingOverflow(by: count)
      return o1 || o2 ? nil : total
    }
  }

  struct Header: Codable {
    var key: String
    var fitted: FittedPipeline
    var train: SetHeader
    var test: SetHeader
    /// What `on_bad_row: skip` dropped, paths blanked; absent when nothing (always under `error`,
    /// so those entries are unchanged).
    var trainSkipped: SkipReport?
    var testSkipped: SkipReport?
    /// The validation set, after the test set's arrays (absent without one, so entries without
    /// it are unchanged).
    var validation: SetHeader?
    var validationSkipped: SkipReport?
  }

  static func decode(_ bytes: [UInt8], key: UInt64, pipeline: Pipeline) throws -> LoadedData {
    func fail(_ reason: String) -> CacheFileError { CacheFileError(reason: reason) }
    return try bytes.withUnsafeBytes { raw in
      let n = raw.count
      guard n >= 20 else { throw fail("truncated (\(n) bytes)") }
      guard raw.prefix(8).elementsEqual(magic) else { throw fail("not a data cache file (bad magic)") }
      let version = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
      guard version == formatVersion else {
        throw fail("format version \(version), this mtlc writes \(formatVersion)")
      }
      let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
      guard Checksum.crc32(UnsafeRawBufferPointer(rebasing: raw[0..<(n - 4)])) == stored else {
        throw fail("checksum mismatch (truncated or corrupted)")
      }
      let headerLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
      guard headerLength <= n - 20 else { throw fail("header length \(headerLength) past the end") }
      let header: Header
      do {
        header = try JSONDecoder().decode(Header.self, from: Data(bytes: raw.baseAddress! + 16, count: headerLength))
      } catch {
        throw fail("unreadable header: \(error)")
      }
      guard header.key == hex(key) else { throw fail("the entry is for key \(header.key)") }
      guard header.fitted.pipeline == pipeline else { throw fail("the entry is for another pipeline") }
      let f = header.fitted
      for s in [header.train, header.test] + (header.validation.map { [$0] } ?? []) {
        guard s.sparseWidth == f.pipeline.idColumns, s.denseWidth == f.dense.count,
          s.labelWidth == f.pipeline.labels.count, s.missingCounts.count == f.sparse.count,
          s.unseenCounts.count == f.sparse.count, (s.truncatedCounts?.count ?? f.sparse.count) == f.sparse.count,
          (s.unseenClassCounts?.count ?? s.labelWidth) == s.labelWidth
        else { throw fail("the header's widths do not match its pipeline") }
      }
      let validationBytes = header.validation.map { $0.byteCount } ?? 0
      guard let trainBytes = header.train.byteCount, let testBytes = header.test.byteCount,
        let validationBytes, trainBytes <= n, testBytes <= n, validationBytes <= n,
        16 + headerLength + trainBytes + testBytes + validationBytes + 4 == n
      else { throw fail("the sizes in the header do not add up to the file's size") }

      var offset = 16 + headerLength
      func array<T>(_ count: Int, of: T.Type) -> [T] {
        let size = count * MemoryLayout<T>.stride
        let out = [T](unsafeUninitializedCapacity: count) { buf, initialized in
          if size > 0 {
            UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: raw.baseAddress! + offset, byteCount: size)
          }
          initialized = count
        }
        offset += size
        return out
      }
      func dataset(_ s: SetHeader) -> Dataset {
        let sparse = array(s.count * s.sparseWidth, of: Int32.self)
        let dense = array(s.count * s.denseWidth, of: Float.self)
        let labels = array(s.count * s.labelWidth, of: Float.self)
        let rows = array(s.count, of: Int.self)
        return Dataset(
          count: s.count, sparseWidth: s.sparseWidth, denseWidth: s.denseWidth, labelWidth: s.labelWidth,
          sparse: sparse, dense: dense, labels: labels, rows: rows, missingCounts: s.missingCounts,
          unseenCounts: s.unseenCounts,
          unseenClassCounts: s.unseenClassCounts ?? [Int](repeating: 0, count: s.labelWidth),
          truncatedCounts: s.truncatedCounts)
      }
      let train = dataset(header.train)
      let test = dataset(header.test)
      let validation = header.validation.map(dataset)
      // The sums agree and the checksum holds, but ids and class labels index tables: check them.
      for d in [train, test] + (validation.map { [$0] } ?? []) {
        if let problem = d.indexProblem(f) { throw fail(problem) }
      }
      return LoadedData(
        fitted: f, train: train, test: test, trainRows: train.rows, testRows: test.rows,
        trainSkipped: header.trainSkipped, testSkipped: header.testSkipped, validation: validation,
        validationRows: validation?.rows, validationSkipped: header.validationSkipped)
    }
  }

  // MARK: Writing

  /// Writes `data` (loaded with `pipeline`, data paths blanked) as entry `key`; the reason when not.
  func store(_ data: LoadedData, key: UInt64, path: String, pipeline: Pipeline) -> String? {
    guard data.trainRows == data.train.rows && data.testRows == data.test.rows,
      data.validationRows == data.validation?.rows
    else {
      return "the row lists differ from the data sets' rows"
    }
    var fitted = data.fitted
    fitted.pipeline = pipeline
    func blanked(_ r: SkipReport?) -> SkipReport? {
      guard var r else { return nil }
      r.path = ""
      return r
    }
    let header = Header(
      key: DataCache.hex(key), fitted: fitted, train: SetHeader(data.train), test: SetHeader(data.test),
      trainSkipped: blanked(data.trainSkipped), testSkipped: blanked(data.testSkipped),
      validation: data.validation.map(SetHeader.init), validationSkipped: blanked(data.validationSkipped))
    let json: Data
    do {
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys]  // The same data always makes the same file.
      json = try enc.encode(header)
    } catch {
      return "cannot encode the header: \(error)"
    }
    guard let trainBytes = header.train.byteCount, let testBytes = header.test.byteCount,
      let validationBytes = header.validation.map({ $0.byteCount }) ?? 0, json.count <= Int(UInt32.max)
    else { return "too large" }
    let total = 16 + json.count + trainBytes + testBytes + validationBytes + 4
    guard total <= maxBytes else { return "larger than the cache's limit of \(maxBytes) bytes" }

    var out: [UInt8] = []
    out.reserveCapacity(total)
    out.append(contentsOf: DataCache.magic)
    appendLittleEndian(DataCache.formatVersion, to: &out)
    appendLittleEndian(UInt32(json.count), to: &out)
    out.append(contentsOf: json)
    for d in [data.train, data.test] + (data.validation.map { [$0] } ?? []) {
      d.sparse.withUnsafeBytes { out.append(contentsOf: $0) }
      d.dense.withUnsafeBytes { out.append(contentsOf: $0) }
      d.labels.withUnsafeBytes { out.append(contentsOf: $0) }
      d.rows.withUnsafeBytes { out.append(contentsOf: $0) }
    }
    let crc = out.withUnsafeBytes { Checksum.crc32($0) }
    appendLittleEndian(crc, to: &out)
    precondition(out.count == total, "cache file size")

    if let problem = makeDirectories(directory) { return problem }
    do { try AtomicFile.write(out, to: path) } catch let e as FileError { return e.reason } catch {
      return "\(error)"
    }
    return nil
  }

  // MARK: Helpers

  static func hex(_ key: UInt64) -> String {
    let s = String(key, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
  }

  /// The pipeline as it enters the key and the cache file: data paths blanked.
  static func keyed(_ p: Pipeline) -> Pipeline {
    var p = p
    p.train = ""
    p.test = nil
    p.validation = p.validation.map { _ in "" }
    return p
  }

  static func pipelineJSON(_ p: Pipeline) -> [UInt8] {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Plain Codable structs with finite numbers cannot fail to encode.
    return Array((try? enc.encode(p)) ?? Data())
  }

  /// A 64-bit digest of a data file, 8 bytes at a time in 4 independent lanes (a byte-serial
  /// FNV-1a over 3.5 MB is a 3 ms chain of dependent multiplies; this is ~0.3 ms). Each step,
  /// `l = (l ^ word) * K; l ^= l >> 32`, is a bijection of the lane, so a change to any one word
  /// always changes the digest; the lanes, the tail and the length are folded with FNV-1a.
  /// Stored in cache file names: changing it needs a new `formatVersion`.
  static func contentHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let k: UInt64 = 0xFF51_AFD7_ED55_8CCD
    var l0: UInt64 = 0x243F_6A88_85A3_08D3
    var l1: UInt64 = 0x1319_8A2E_0370_7344
    var l2: UInt64 = 0xA409_3822_299F_31D0
    var l3: UInt64 = 0x082E_FA98_EC4E_6C89
    @inline(__always) func step(_ l: inout UInt64, _ w: UInt64) {
      l = (l ^ w) &* k
      l ^= l >> 32
    }
    @inline(__always) func word(_ i: Int) -> UInt64 {
      UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
    }
    let n = bytes.count
    var i = 0
    while i + 32 <= n {
      step(&l0, word(i))
      step(&l1, word(i + 8))
      step(&l2, word(i + 16))
      step(&l3, word(i + 24))
      i += 32
    }
    while i + 8 <= n {
      step(&l0, word(i))
      i += 8
    }
    var tail: UInt64 = 0
    var shift: UInt64 = 0
    while i < n {
      tail |= UInt64(bytes[i]) << shift
      shift += 8
      i += 1
    }
    var h = FNV1a64()
    for x in [l0, l1, l2, l3, tail, UInt64(n)] { h.add(x) }
    return h.value
  }

  /// `mkdir -p`; the reason when the directory cannot be made.
  func makeDirectories(_ path: String) -> String? {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
      prefix += part
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
        return "cannot create \(prefix): \(errnoString())"
      }
      prefix += "/"
    }
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
      return "\(path) is not a directory"
    }
    return nil
  }
}

private func appendLittleEndian(_ x: UInt32, to out: inout [UInt8]) {
  for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: x >> (8 * UInt32(k)))) }
}

enum ReadResult {
  case missing
  case failed(String)
  case bytes([UInt8])
}

/// A whole regular file in one allocation (`AtomicFile.read` grows its array as it goes, which
/// costs a copy or two of a data file); `.missing` when it does not exist.
func readRegularFile(_ path: String, limit: Int) -> ReadResult {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return errno == ENOENT ? .missing : .failed(errnoString()) }
  defer { close(fd) }
  var st = stat()
  guard fstat(fd, &st) == 0 else { return .failed(errnoString()) }
  guard (st.st_mode & S_IFMT) == S_IFREG else { return .failed("not a regular file") }
  let size = Int(st.st_size)
  guard size <= limit else { return .failed("larger than the limit of \(limit) bytes") }
  // One byte more than the size, to notice a file that grew since fstat.
  var failure: String?
  let bytes = [UInt8](unsafeUninitializedCapacity: size + 1) { buf, initialized in
    var got = 0
    while got <= size {
      let r = read(fd, buf.baseAddress! + got, size + 1 - got)
      if r < 0 {
        if errno == EINTR { continue }
        failure = errnoString()
        break
      }
      if r == 0 { break }
      got += r
    }
    initialized = got
  }
  if let failure { return .failed(failure) }
  if bytes.count > size { return .failed("the file grew while being read") }
  return .bytes(bytes)
}

private func errnoString() -> String { String(cString: strerror(errno)) }
