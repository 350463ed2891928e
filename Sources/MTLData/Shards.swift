// Encoded examples on disk: fixed-width shards, read back with mmap.
//
// A set (train, test, validation) is a run of shard files of `shardRows` examples each (the
// last may be shorter), named `train-000000.shard` and so on, in one directory with a
// `manifest.json` written last. A shard is a 64-byte header — magic `MTLSHARD`, format version,
// rows, id columns, dense values, labels (UInt32 each), then the CRC-32 of the body — and the
// body: the ids [rows, S] as Int32, the dense values [rows, D] and the labels [rows, L] as Float,
// little-endian. A shard's block of examples is the epoch order's block (`EpochOrder`), so an
// epoch touches a few shards at a time; `ShardStore` maps at most that many and unmaps the least
// recently used, which bounds the memory a run holds by the shuffle window, not the data.

import CZlib
import Foundation
import MTLGraph
import MTLSupport

#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

/// A shard store that cannot be read: its directory, the shard, what is wrong.
public struct ShardError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String {
    "\(path): error: \(reason); remove it (or the data cache) and run again to rebuild it"
  }
}

enum ShardFormat {
  static let magic: [UInt8] = Array("MTLSHARD".utf8)
  static let version: UInt32 = 1
  static let headerBytes = 64

  static func name(_ set: String, _ index: Int) -> String {
    let s = String(index)
    return set + "-" + String(repeating: "0", count: max(0, 6 - s.count)) + s + ".shard"
  }
}

/// Writes a set's examples as shards of `shardRows`, in order.
struct ShardWriter: ExampleSink {
  let directory: String
  let set: String
  let shardRows: Int
  var pending: Dataset
  var shards = 0
  var count = 0
  /// The set's counts (missing, unseen, ...), summed over every example written.
  var totals: Dataset

  init(directory: String, set: String, shardRows: Int, pipeline p: Pipeline) {
    self.directory = directory
    self.set = set
    self.shardRows = shardRows
    pending = Dataset.empty(p)
    totals = Dataset.empty(p)
  }

  mutating func append(_ d: Dataset) throws {
    var counts = d
    (counts.sparse, counts.dense, counts.labels, counts.rows, counts.count) = ([], [], [], [], 0)
    totals.append(counts)
    count += d.count
    pending.append(d)
    while pending.count >= shardRows { try flush(rows: shardRows) }
  }

  /// Writes what is left as the last (short) shard.
  mutating func finish() throws {
    if pending.count > 0 { try flush(rows: pending.count) }
  }

  mutating func flush(rows n: Int) throws {
    let s = pending.sparseWidth
    let d = pending.denseWidth
    let l = pending.labelWidth
    var body: [UInt8] = []
    body.reserveCapacity(n * (s + d + l) * 4)
    pending.sparse.withUnsafeBytes { body.append(contentsOf: $0[0..<(n * s * 4)]) }
    pending.dense.withUnsafeBytes { body.append(contentsOf: $0[0..<(n * d * 4)]) }
    pending.labels.withUnsafeBytes { body.append(contentsOf: $0[0..<(n * l * 4)]) }
    var header = ShardFormat.magic
    for x in [ShardFormat.version, UInt32(n), UInt32(s), UInt32(d), UInt32(l), ShardStore.crc(body)] {
      withUnsafeBytes(of: x.littleEndian) { header.append(contentsOf: $0) }
    }
    header += [UInt8](repeating: 0, count: ShardFormat.headerBytes - header.count)
    let path = directory + "/" + ShardFormat.name(set, shards)
    // Not synced one by one: the directory is published by renaming it, and a shard that was
    // not fully written fails its checksum when read.
    let bytes = header + body
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw ShardError(path: path, reason: "cannot write the shard: \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
      let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
      if w < 0 && errno == EINTR { continue }
      guard w > 0 else {
        throw ShardError(path: path, reason: "cannot write the shard: \(String(cString: strerror(errno)))")
      }
      done += w
    }
    shards += 1
    pending.sparse.removeSubrange(0..<(n * s))
    pending.dense.removeSubrange(0..<(n * d))
    pending.labels.removeSubrange(0..<(n * l))
    pending.rows.removeSubrange(0..<n)
    pending.count -= n
  }
}

/// What a shard directory holds, written last (its presence means the shards are complete).
struct ShardManifest: Codable {
  var version: UInt32
  var key: String
  var fitted: FittedPipeline
  var shardRows: Int
  var sets: [SetEntry]
  var skipped: [SkipReport]
  /// Seconds the build took (for the log of a later run).
  var buildSeconds: Double

  struct SetEntry: Codable {
    var name: String
    var count: Int
    var shards: Int
    var missingCounts: [Int]
    var unseenCounts: [Int]
    var unseenClassCounts: [Int]
    var truncatedCounts: [Int]
  }
}

/// A set's examples in shards, mapped a few at a time.
public final class ShardStore: Examples {
  public let directory: String
  public let set: String
  public let count: Int
  public let sparseWidth: Int
  public let denseWidth: Int
  public let labelWidth: Int
  let shardRows: Int
  let shards: Int
  public var unseenClassCounts: [Int]
  /// Per id column: the table rows its ids index, and whether -1 (a bag's padding) is allowed.
  let idRows: [Int32]
  let padded: [Bool]
  /// Per label column: the class count of a multiclass label (0 for the others).
  let classCounts: [Int]
  /// Most shards mapped at once.
  let capacity: Int
  var mapped: [(shard: Int, base: UnsafeMutableRawPointer, bytes: Int)] = []
  /// Per shard: its body when mapped, and the gather call that last used it (for eviction).
  var bodies: [UnsafeRawPointer?]
  var lastUse: [Int]
  var tick = 0
  /// Shards whose checksum and ids were checked in this process.
  var checked: Set<Int> = []
  /// The first shard that could not be read (damaged or removed after the store was opened);
  /// its examples read as zeros, and the reader stops at the next batch (`Session`).
  public private(set) var failure: ShardError?

  init(
    directory: String, set: String, count: Int, shardRows: Int, fitted: FittedPipeline, capacity: Int,
    unseenClassCounts: [Int]
  ) {
    let p = fitted.pipeline
    self.unseenClassCounts = unseenClassCounts
    let shardCount = count == 0 ? 0 : (count - 1) / shardRows + 1
    bodies = Array(repeating: nil, count: shardCount)
    lastUse = Array(repeating: 0, count: shardCount)
    self.directory = directory
    self.set = set
    self.count = count
    self.shardRows = shardRows
    shards = count == 0 ? 0 : (count - 1) / shardRows + 1
    sparseWidth = p.idColumns
    denseWidth = p.dense.count
    labelWidth = p.labels.count
    var rows: [Int32] = []
    var pad: [Bool] = []
    for (f, s) in p.sparse.enumerated() {
      for _ in 0..<(s.multi?.maxLength ?? 1) {
        rows.append(Int32(clamping: fitted.sparse[f].tableRows))
        pad.append(s.multi != nil)
      }
    }
    idRows = rows
    padded = pad
    let lists = fitted.classLists
    classCounts = p.labels.map { $0.isMulticlass ? lists[$0.task]?.count ?? 0 : 0 }
    self.capacity = max(2, capacity)
  }

  deinit { for m in mapped { munmap(m.base, m.bytes) } }

  static func crc(_ body: [UInt8]) -> UInt32 {
    body.withUnsafeBufferPointer { UInt32(crc32_z(0, $0.baseAddress, $0.count)) }
  }

  func rows(of shard: Int) -> Int { min(shardRows, count - shard * shardRows) }

  /// The base address of shard `k`'s body, mapped (and checked on its first use); nil (and
  /// `failure` set) when it cannot be read.
  func body(_ k: Int) -> UnsafeRawPointer? {
    lastUse[k] = tick
    if let b = bodies[k] { return b }
    if mapped.count >= capacity {
      // The least recently used goes, unless the current gather uses it (its pointers are held
      // until the gather returns): then one more stays mapped for now.
      var i = 0
      for j in mapped.indices where lastUse[mapped[j].shard] < lastUse[mapped[i].shard] { i = j }
      if lastUse[mapped[i].shard] < tick {
        let old = mapped.remove(at: i)
        bodies[old.shard] = nil
        munmap(old.base, old.bytes)
      }
    }
    let m: (UnsafeMutableRawPointer, Int)
    do {
      m = try map(k)
    } catch {
      if failure == nil { failure = error as? ShardError ?? ShardError(path: directory, reason: "\(error)") }
      return nil
    }
    mapped.append((k, m.0, m.1))
    bodies[k] = UnsafeRawPointer(m.0 + ShardFormat.headerBytes)
    return bodies[k]
  }

  /// Maps shard `k` and checks its header, and once per process its checksum and ids.
  func map(_ k: Int) throws -> (UnsafeMutableRawPointer, Int) {
    let path = directory + "/" + ShardFormat.name(set, k)
    let n = rows(of: k)
    let expected = ShardFormat.headerBytes + n * (sparseWidth + denseWidth + labelWidth) * 4
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      throw ShardError(path: path, reason: "cannot open the shard: \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, Int(st.st_size) == expected else {
      throw ShardError(path: path, reason: "the shard has \(st.st_size) bytes, not \(expected)")
    }
    // Populated at once: the shard is read whole within a window anyway, and faulting it in page
    // by page during the gathers costs more.
    guard let base = mmap(nil, expected, PROT_READ, MAP_PRIVATE | mtlcMapPopulate, fd, 0), base != MAP_FAILED else {
      throw ShardError(path: path, reason: "cannot map the shard: \(String(cString: strerror(errno)))")
    }
    let header = UnsafeRawBufferPointer(start: base, count: ShardFormat.headerBytes)
    func u32(_ i: Int) -> UInt32 {
      UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 8 + 4 * i, as: UInt32.self))
    }
    guard Array(header[0..<8]) == ShardFormat.magic, u32(0) == ShardFormat.version, u32(1) == UInt32(n),
      u32(2) == UInt32(sparseWidth), u32(3) == UInt32(denseWidth), u32(4) == UInt32(labelWidth)
    else {
      munmap(base, expected)
      throw ShardError(path: path, reason: "the shard's header does not match its store")
    }
    if !checked.contains(k) {
      let body = UnsafeRawBufferPointer(
        start: base + ShardFormat.headerBytes, count: expected - ShardFormat.headerBytes)
      guard UInt32(crc32_z(0, body.baseAddress?.assumingMemoryBound(to: UInt8.self), body.count)) == u32(5) else {
        munmap(base, expected)
        throw ShardError(path: path, reason: "the shard's checksum does not match: it is damaged")
      }
      if let problem = indexProblem(body, rows: n) {
        munmap(base, expected)
        throw ShardError(path: path, reason: problem)
      }
      checked.insert(k)
    }
    return (base, expected)
  }

  /// An id or class label out of range for the fitted pipeline, as `Dataset.indexProblem`.
  func indexProblem(_ body: UnsafeRawBufferPointer, rows n: Int) -> String? {
    let ids = body.baseAddress!.assumingMemoryBound(to: Int32.self)
    for i in 0..<(n * sparseWidth) {
      let c = i % sparseWidth
      let id = ids[i]
      if id == -1 && padded[c] { continue }
      if id < 0 || id >= idRows[c] { return "sparse id \(id) in id column \(c) is outside its \(idRows[c]) rows" }
    }
    let labels = (body.baseAddress! + n * (sparseWidth + denseWidth) * 4).assumingMemoryBound(to: Float.self)
    for (j, k) in classCounts.enumerated() where k > 0 {
      for r in 0..<n {
        let y = labels[r * labelWidth + j]
        if !(y.isNaN || (y >= 0 && y < Float(k) && y.rounded(.down) == y)) {
          return "class label \(y) in label column \(j) is not one of its \(k) classes"
        }
      }
    }
    return nil
  }

  /// Checks every shard can be mapped (sizes, headers, checksums, ids) before training starts:
  /// the error then comes before any work instead of mid-epoch.
  func checkFirst() throws {
    if shards > 0 {
      let m = try map(0)
      munmap(m.0, m.1)
    }
  }

  public func gather(
    indices: ArraySlice<Int>, into sparseOut: UnsafeMutablePointer<Int32>, dense denseOut: UnsafeMutablePointer<Float>,
    labels labelsOut: UnsafeMutablePointer<Float>
  ) {
    let s = sparseWidth
    let d = denseWidth
    let l = labelWidth
    tick += 1
    // The shards this call has looked up, kept in locals: the store's own tables are class
    // properties, and touching them for every example costs more than the copy.
    var keys: (Int, Int, Int, Int, Int, Int, Int, Int) = (-1, -1, -1, -1, -1, -1, -1, -1)
    var bases = [UnsafeRawPointer?](repeating: nil, count: 8)
    var next = 0
    var b = 0
    var cached = -1
    var base = UnsafeRawPointer(bitPattern: 1)!
    var n = 0
    let shardRows = shardRows
    let count = count
    for i in indices {
      precondition(i >= 0 && i < count, "example \(i) out of range 0..<\(count)")
      let k = i / shardRows
      if k != cached {
        var slot = -1
        withUnsafeBytes(of: &keys) { kb in
          let ks = kb.bindMemory(to: Int.self)
          for j in 0..<8 where ks[j] == k {
            slot = j
            break
          }
        }
        if slot < 0 {
          guard let p = body(k) else {
            (sparseOut + b * s).update(repeating: 0, count: s * (indices.count - b))
            (denseOut + b * d).update(repeating: 0, count: d * (indices.count - b))
            (labelsOut + b * l).update(repeating: .nan, count: l * (indices.count - b))
            return
          }
          slot = next
          next = (next + 1) % 8
          withUnsafeMutableBytes(of: &keys) { $0.bindMemory(to: Int.self)[slot] = k }
          bases[slot] = p
        }
        base = bases[slot]!
        cached = k
        n = min(shardRows, count - k * shardRows)
      }
      let r = i - k * shardRows
      let ids = base.assumingMemoryBound(to: Int32.self)
      let dense = (base + n * s * 4).assumingMemoryBound(to: Float.self)
      let labels = (base + n * (s + d) * 4).assumingMemoryBound(to: Float.self)
      (sparseOut + b * s).update(from: ids + r * s, count: s)
      (denseOut + b * d).update(from: dense + r * d, count: d)
      (labelsOut + b * l).update(from: labels + r * l, count: l)
      b += 1
    }
  }

  public func labelColumn(_ j: Int) -> [Float] {
    var out: [Float] = []
    out.reserveCapacity(count)
    for k in 0..<shards {
      tick += 1
      let n = rows(of: k)
      guard let b = body(k) else {
        out += [Float](repeating: .nan, count: n)
        continue
      }
      let labels = (b + n * (sparseWidth + denseWidth) * 4).assumingMemoryBound(to: Float.self)
      for r in 0..<n { out.append(labels[r * labelWidth + j]) }
    }
    return out
  }
}

#if os(Linux)
  let mtlcMapPopulate = MAP_POPULATE
#else
  let mtlcMapPopulate: Int32 = 0
#endif
