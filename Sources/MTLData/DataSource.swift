// Choosing where a run's examples live: in memory, or streamed from shards on disk.
//
// `DataSets.load` reads the data files a pipeline names (a path or a glob each), fits the
// pipeline and encodes the sets. Small data is held in memory (and cached whole, Cache.swift);
// data whose files pass `DataSets.streamingThreshold` (256 MiB, a gzip file counted at 4x its
// size), several train files, or any data under `data.streaming: true`, is read a piece at a time (RecordChunks), fitted
// in one pass and encoded into shards (Shards.swift) that training maps a few at a time. The
// shards are kept in the data cache under a key of the files' contents and the pipeline, so a
// later run over the same data (or `mtlc prepare` before it) starts training at once; without a
// cache they go to a temporary directory removed when the sets are released. Both sources apply
// the same split, fit, encoding and epoch order: the same data, seed and threads give the same
// run, bit for bit, whichever serves it.

import Foundation
import MTLGraph
import MTLSupport

#if canImport(Glibc)
  import Glibc
#else
  import Darwin
#endif

/// A run's data: the fitted pipeline and the train, test and (optional) validation examples.
public final class DataSets {
  public let fitted: FittedPipeline
  public let train: any Examples
  public let test: any Examples
  public let validation: (any Examples)?
  /// What `on_bad_row: skip` dropped, a report per file that lost rows.
  public let skipped: [SkipReport]
  /// One line per multi-valued feature whose cells held more values than its `maxLength`.
  public let truncations: [String]
  public let source: Source
  /// A shard directory of this process's own, removed on release.
  let temporary: String?

  public enum Source: Equatable, Sendable {
    /// In memory, with what the whole-data cache did (nil: several files, not cached).
    case memory(cache: DataCache.Report?)
    /// Shards in `directory`: `reused` when a previous run or `mtlc prepare` made them.
    case shards(directory: String, reused: Bool, seconds: Double)
  }

  /// Above this many bytes of data files (a gzip file counted at 4x), the examples stream from
  /// shards unless the spec says `data.streaming: false`.
  public static let streamingThreshold = 256 << 20

  init(
    fitted: FittedPipeline, train: any Examples, test: any Examples, validation: (any Examples)?,
    skipped: [SkipReport], truncations: [String], source: Source, temporary: String? = nil
  ) {
    self.fitted = fitted
    self.train = train
    self.test = test
    self.validation = validation
    self.skipped = skipped
    self.truncations = truncations
    self.source = source
    self.temporary = temporary
  }

  deinit { if let temporary { removeTree(temporary) } }

  /// A line for the run's log: where the examples are.
  public var sourceLine: String? {
    switch source {
    case .memory: return nil
    case .shards(let dir, let reused, let seconds):
      return reused
        ? "examples streamed from the shards in \(dir) (prepared before)"
        : "examples encoded into shards in \(dir) in \(String(format: "%.1f", seconds)) s, streamed from there"
    }
  }

  /// In-memory sets from a `LoadedData`.
  public convenience init(_ d: LoadedData, cache: DataCache.Report?) {
    self.init(
      fitted: d.fitted, train: MemoryExamples(d.train), test: MemoryExamples(d.test),
      validation: d.validation.map(MemoryExamples.init), skipped: d.skipped, truncations: d.truncations,
      source: .memory(cache: cache))
  }

  /// Loads the sets of `p` (paths given override the pipeline's), choosing the source as the top
  /// of this file says.
  public static func load(
    _ p: Pipeline, trainPath: String? = nil, testPath: String? = nil, validationPath: String? = nil,
    cache: DataCache? = DataCache.default, chunkBytes: Int = 16 << 20
  ) throws -> DataSets {
    var p = p
    if let trainPath { p.train = trainPath }
    if let testPath { p.test = testPath }
    if let validationPath { p.validation = validationPath }
    guard p.shardRows > 0 && p.shuffleWindow > 0 else {
      throw DataError(path: p.train, message: "shard_rows and shuffle_window must be positive")
    }
    let trainFiles = try DataFiles.expand(p.train)
    let testFiles = try p.test.map { try DataFiles.expand($0) }
    let validationFiles = try p.validation.map { try DataFiles.expand($0) }
    let all = trainFiles + (testFiles ?? []) + (validationFiles ?? [])
    // Several train files are a log that grows by files: shards, cached, whatever the size.
    let streaming = p.streaming ?? (trainFiles.count > 1 || estimatedBytes(all) > streamingThreshold)
    if !streaming {
      if trainFiles.count == 1 && (testFiles?.count ?? 1) == 1 && (validationFiles?.count ?? 1) == 1 {
        let (d, report) = try LoadedData.loadReporting(
          p, trainPath: trainFiles[0], testPath: testFiles?[0], validationPath: validationFiles?[0], cache: cache)
        return DataSets(d, cache: report)
      }
      var train = MemorySink()
      var test = MemorySink()
      var validation = MemorySink()
      let r = try DataBuild.run(
        p, train: .streamed(trainFiles, p, chunkBytes: chunkBytes),
        test: testFiles.map { .streamed($0, p, chunkBytes: chunkBytes) },
        validation: validationFiles.map { .streamed($0, p, chunkBytes: chunkBytes) }, trainSink: &train,
        testSink: &test, validationSink: &validation)
      let empty = Dataset.empty(p)
      let trainSet = train.data ?? empty
      let testSet = test.data ?? empty
      let validationSet = p.hasValidation ? validation.data ?? empty : nil
      var named = [("train", trainSet.truncatedCounts), ("test", testSet.truncatedCounts)]
      if let v = validationSet { named.append(("validation", v.truncatedCounts)) }
      return DataSets(
        fitted: r.fitted, train: MemoryExamples(trainSet), test: MemoryExamples(testSet),
        validation: validationSet.map(MemoryExamples.init),
        skipped: r.trainSkipped + r.testSkipped + r.validationSkipped,
        truncations: truncationLines(r.fitted.pipeline, named), source: .memory(cache: nil))
    }
    return try loadShards(
      p, train: trainFiles, test: testFiles, validation: validationFiles, cache: cache, chunkBytes: chunkBytes)
  }

  /// The bytes the files would take as text: their sizes, a gzip file's times 4.
  public static func estimatedBytes(_ files: [String]) -> Int {
    var total = 0
    for f in files {
      var st = stat()
      guard stat(f, &st) == 0 else { continue }
      var magic: [UInt8] = [0, 0]
      let fd = open(f, O_RDONLY)
      var gz = false
      if fd >= 0 {
        gz = pread(fd, &magic, 2, 0) == 2 && magic == [0x1F, 0x8B]
        close(fd)
      }
      total += Int(st.st_size) * (gz ? 4 : 1)
    }
    return total
  }

  /// "feature `x`: values past max_length 3 left out (2 in train, 1 in test)" per feature.
  static func truncationLines(_ p: Pipeline, _ sets: [(String, [Int])]) -> [String] {
    var out: [String] = []
    for (f, s) in p.sparse.enumerated() {
      guard let m = s.multi else { continue }
      let parts = sets.compactMap { name, counts in f < counts.count && counts[f] > 0 ? "\(counts[f]) in \(name)" : nil
      }
      if !parts.isEmpty {
        out.append(
          "feature `\(s.name)`: values past max_length \(m.maxLength) left out (\(parts.joined(separator: ", ")))")
      }
    }
    return out
  }

  // MARK: Shards

  /// The key of a shard directory: the files' sizes and contents, in order per set, and the
  /// pipeline without its paths and the settings that do not change the examples.
  static func shardKey(_ p: Pipeline, train: [String], test: [String]?, validation: [String]?) throws -> UInt64 {
    var h = FNV1a64()
    h.add(Array("mtlc-shards".utf8))
    h.add(UInt64(ShardFormat.version))
    h.add(UInt64(DataCache.formatVersion))
    for (tag, files) in [(1, train), (2, test ?? []), (3, validation ?? [])] {
      h.add(UInt64(tag))
      h.add(UInt64(files.count))
      for f in files { h.add(try fileDigest(f)) }
    }
    var keyed = DataCache.keyed(p)
    keyed.streaming = nil
    keyed.shuffleWindow = Pipeline.defaultShuffleWindow
    let json = DataCache.pipelineJSON(keyed)
    h.add(UInt64(json.count))
    h.add(json)
    return h.value
  }

  /// A 64-bit digest of a file's bytes, 8 MiB at a time (`DataCache.contentHash` of each block).
  static func fileDigest(_ path: String) throws -> UInt64 {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      throw DataError(path: path, message: "cannot read the file: \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var h = FNV1a64()
    var size = 0
    var buf = [UInt8](repeating: 0, count: 8 << 20)
    while true {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw DataError(path: path, message: "cannot read the file: \(String(cString: strerror(errno)))")
      }
      if n == 0 { break }
      size += n
      h.add(buf.withUnsafeBytes { DataCache.contentHash(UnsafeRawBufferPointer(rebasing: $0[0..<n])) })
    }
    h.add(UInt64(size))
    return h.value
  }

  static func loadShards(
    _ p: Pipeline, train: [String], test: [String]?, validation: [String]?, cache: DataCache?, chunkBytes: Int
  ) throws -> DataSets {
    let key = try shardKey(p, train: train, test: test, validation: validation)
    var temporary: String? = nil
    let directory: String
    if let cache, DataCache.supported, cache.makeDirectories(cache.directory) == nil {
      directory = cache.directory + "/" + DataCache.hex(key) + ".shards"
      if AtomicFile.exists(directory) {
        if let sets = try? openStore(directory, key: key, pipeline: p) { return sets }
        // Damaged or from another version: built again.
        removeTree(directory)
      }
    } else {
      directory = try makeTemporaryDirectory(prefix: "mtlc-shards-")
      temporary = directory
    }
    let start = monotonicNow()
    // Built beside its final place and renamed into it, so a half-written store is never read.
    let building = temporary ?? directory + ".building-\(getpid())"
    if temporary == nil {
      removeTree(building)
      guard mkdir(building, 0o755) == 0 else {
        throw ShardError(path: building, reason: "cannot create the directory: \(String(cString: strerror(errno)))")
      }
    }
    do {
      func writer(_ set: String) -> ShardWriter {
        ShardWriter(directory: building, set: set, shardRows: p.shardRows, pipeline: p)
      }
      var (trainSink, testSink, validationSink) = (writer("train"), writer("test"), writer("validation"))
      let r = try DataBuild.run(
        p, train: .streamed(train, p, chunkBytes: chunkBytes),
        test: test.map { .streamed($0, p, chunkBytes: chunkBytes) },
        validation: validation.map { .streamed($0, p, chunkBytes: chunkBytes) }, trainSink: &trainSink,
        testSink: &testSink, validationSink: &validationSink)
      var sinks = [trainSink, testSink, validationSink]
      for i in sinks.indices { try sinks[i].finish() }
      let manifest = ShardManifest(
        version: ShardFormat.version, key: DataCache.hex(key), fitted: r.fitted, shardRows: p.shardRows,
        sets: sinks.map {
          .init(
            name: $0.set, count: $0.count, shards: $0.shards, missingCounts: $0.totals.missingCounts,
            unseenCounts: $0.totals.unseenCounts, unseenClassCounts: $0.totals.unseenClassCounts,
            truncatedCounts: $0.totals.truncatedCounts)
        }, skipped: r.trainSkipped + r.testSkipped + r.validationSkipped, buildSeconds: monotonicNow() - start)
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys]
      try AtomicFile.write(Array(try enc.encode(manifest)), to: building + "/manifest.json")
      if temporary == nil {
        if rename(building, directory) != 0 {
          // Another run published the same store first: use it.
          removeTree(building)
        }
      }
    } catch {
      if temporary == nil { removeTree(building) }
      throw error
    }
    let sets = try openStore(directory, key: key, pipeline: p, temporary: temporary, reused: false)
    return sets
  }

  /// The store in `directory`, when its manifest is there and matches `key` and `p`.
  static func openStore(
    _ directory: String, key: UInt64, pipeline p: Pipeline, temporary: String? = nil, reused: Bool = true
  ) throws -> DataSets {
    let bytes = try AtomicFile.read(directory + "/manifest.json", limit: 1 << 30)
    let m = try JSONDecoder().decode(ShardManifest.self, from: Data(bytes))
    guard m.version == ShardFormat.version, m.key == DataCache.hex(key), m.shardRows == p.shardRows,
      m.sets.count == 3, m.fitted.check() == nil
    else {
      throw ShardError(path: directory, reason: "the shard store's manifest does not match this data and pipeline")
    }
    var fitted = m.fitted
    fitted.pipeline = p
    // At most the blocks one window spans, plus the one a batch may straddle into.
    let capacity = (p.shuffleWindow + p.shardRows - 1) / p.shardRows + 2
    let stores = try m.sets.map { s -> ShardStore in
      let store = ShardStore(
        directory: directory, set: s.name, count: s.count, shardRows: m.shardRows, fitted: fitted, capacity: capacity,
        unseenClassCounts: s.unseenClassCounts)
      guard store.shards == s.shards else {
        throw ShardError(
          path: directory, reason: "the manifest's \(s.name) set has \(s.shards) shards for \(s.count) rows")
      }
      try store.checkFirst()
      return store
    }
    let named = zip(["train", "test", "validation"], m.sets.map(\.truncatedCounts)).map { ($0, $1) }
    return DataSets(
      fitted: fitted, train: stores[0], test: stores[1], validation: p.hasValidation ? stores[2] : nil,
      skipped: m.skipped, truncations: truncationLines(p, p.hasValidation ? named : Array(named.prefix(2))),
      source: .shards(directory: directory, reused: reused, seconds: m.buildSeconds),
      temporary: temporary)
  }
}

/// Seconds on a monotonic clock.
public func monotonicNow() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// A new directory of this process's own under `$TMPDIR` (else /tmp), named `prefix` and six
/// random characters (`mkdtemp`, which replaces the template's trailing `XXXXXX`).
func makeTemporaryDirectory(prefix: String) throws -> String {
  let parent = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
  var template = Array((parent + "/" + prefix + "XXXXXX").utf8CString)
  guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
    throw ShardError(
      path: parent, reason: "cannot make a directory for the shards: \(String(cString: strerror(errno)))")
  }
  return String(cString: made)
}

/// `rm -r` of a directory of files (the shard stores have no subdirectories).
func removeTree(_ path: String) {
  guard let d = opendir(path) else { return }
  while let e = readdir(d) {
    let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    if name == "." || name == ".." { continue }
    unlink(path + "/" + name)
  }
  closedir(d)
  rmdir(path)
}
