// The data cache: hits return exactly what a fresh load returns; any change to the input misses;
// damaged or foreign cache files are never trusted. Every test uses its own temporary cache folder.

import Foundation
import MTLData
import MTLGraph
import MTLSupport
import Testing

private func freshCache(maxBytes: Int = 2 << 30) throws -> DataCache {
  DataCache(directory: try temporaryFolder() + "/cache", maxBytes: maxBytes)
}

private let smallCSV = """
  a,x,y
  p,1,yes
  q,2,no
  r,3,yes
  ?,4,no
  p,?,yes
  q,6,no
  r,7,yes
  p,8,no

  """

private func smallPipeline(train: String, test: String? = nil) -> Pipeline {
  pipeline(
    sparse: [sparse("a")], dense: [dense("x", .minmax)],
    labels: [LabelColumn(task: "y", column: "y", rule: .positive(["yes"]))], train: train,
    test: test, testFraction: 0.25)
}

private func bytes(_ path: String) throws -> [UInt8] { try AtomicFile.read(path) }

private func overwrite(_ path: String, _ b: [UInt8]) throws { try AtomicFile.write(b, to: path) }

@Suite struct Cache {
  @Test func secondLoadHitsAndEqualsTheFirst() throws {
    let cache = try freshCache()
    let p = adultPipeline()
    let first = try LoadedData.loadReporting(p, cache: cache)
    #expect(!first.cache.hit && first.cache.stored && first.cache.rejected == nil)
    let path = try #require(first.cache.path)
    #expect(path.hasPrefix(cache.directory + "/") && path.hasSuffix(".mtlcdata"))
    #expect(AtomicFile.exists(path))

    let second = try LoadedData.loadReporting(p, cache: cache)
    #expect(second.cache.hit && second.cache.path == path && !second.cache.stored)
    #expect(second.data == first.data)
    #expect(second.data == (try LoadedData.load(p, cache: nil)))
    #expect(second.data.train.count == 26151 && second.data.test.count == 6410)
  }

  @Test func separateTestFileHits() throws {
    let train = try fixture("train.csv", smallCSV)
    let test = try fixture("test.csv", "y,x,a\nno,5,q\nyes,0,z\n")
    let cache = try freshCache()
    let p = smallPipeline(train: train, test: test)
    let cold = try LoadedData.load(p, cache: nil)
    #expect(try LoadedData.loadReporting(p, cache: cache).cache.stored)
    let hit = try LoadedData.loadReporting(p, cache: cache)
    #expect(hit.cache.hit && hit.data == cold)
    #expect(hit.data.test.unseenCounts == [1])

    // Another test file (one byte changed) is another entry.
    let test2 = try fixture("test.csv", "y,x,a\nno,5,q\nyes,0,r\n")
    let other = try LoadedData.loadReporting(p, testPath: test2, cache: cache)
    #expect(!other.cache.hit && other.cache.path != hit.cache.path)
    #expect(other.data.test.unseenCounts == [0])
  }

  @Test func oneChangedByteMisses() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    let p = smallPipeline(train: path)
    let before = try LoadedData.loadReporting(p, cache: cache)
    var b = try bytes(path)
    let i = try #require(b.firstIndex(of: UInt8(ascii: "6")))
    b[i] = UInt8(ascii: "9")  // Same size, same name, one byte different.
    try overwrite(path, b)
    let after = try LoadedData.loadReporting(p, cache: cache)
    #expect(!after.cache.hit && after.cache.stored && after.cache.path != before.cache.path)
    #expect(after.data == (try LoadedData.load(p, cache: nil)))
    #expect(after.data != before.data)
    // Both entries stay valid.
    try overwrite(path, Array(smallCSV.utf8))
    #expect(try LoadedData.loadReporting(p, cache: cache).cache.hit)
  }

  @Test func pipelineChangesMiss() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    let base = smallPipeline(train: path)
    var variants: [Pipeline] = []
    var v = base
    v.splitSeed += 1
    variants.append(v)
    v = base
    v.testFraction = 0.5
    variants.append(v)
    v = base
    v.sparse[0].missing = ["?", "r"]
    variants.append(v)
    v = base
    v.dense[0].normalize = .standard
    variants.append(v)
    v = base
    v.sparse[0].vocabulary = .hashed(buckets: 5)
    variants.append(v)
    v = base
    v.labels[0].rule = .positive(["no"])
    variants.append(v)

    let first = try LoadedData.loadReporting(base, cache: cache)
    var paths: Set<String?> = [first.cache.path]
    for p in variants {
      let r = try LoadedData.loadReporting(p, cache: cache)
      #expect(!r.cache.hit && r.cache.stored)
      #expect(r.data == (try LoadedData.load(p, cache: nil)))
      paths.insert(r.cache.path)
    }
    #expect(paths.count == variants.count + 1)
    // And each one hits afterwards, with its own data.
    for p in [base] + variants {
      let r = try LoadedData.loadReporting(p, cache: cache)
      let cold = try LoadedData.load(p, cache: nil)
      #expect(r.cache.hit && r.data == cold)
    }
  }

  @Test func delimiterIsInTheKey() throws {
    // The same bytes read with two delimiters are two different tables.
    let path = try fixture("t.csv", "a;b,c\nx;1,2\ny;3,4\nz;5,6\nw;7,8\n")
    let cache = try freshCache()
    var p = pipeline(sparse: [sparse("a;b")], train: path)
    let comma = try LoadedData.loadReporting(p, cache: cache)
    p.sparse = [sparse("a")]
    p.delimiter = ";"
    let semicolon = try LoadedData.loadReporting(p, cache: cache)
    #expect(!semicolon.cache.hit && semicolon.cache.path != comma.cache.path)
  }

  @Test func dataPathsAreNotInTheKey() throws {
    let original = try fixture("t.csv", smallCSV)
    let copy = try fixture("elsewhere.csv", smallCSV)
    let cache = try freshCache()
    _ = try LoadedData.loadReporting(smallPipeline(train: original), cache: cache)
    let p = smallPipeline(train: copy)
    let moved = try LoadedData.loadReporting(p, cache: cache)
    #expect(moved.cache.hit)
    // The fitted pipeline names the path of this load, as a fresh load does.
    #expect(moved.data.fitted.pipeline.train == copy)
    #expect(moved.data == (try LoadedData.load(p, cache: nil)))
    // trainPath overrides likewise.
    let overridden = try LoadedData.loadReporting(
      smallPipeline(train: "unused.csv"), trainPath: original, cache: cache)
    #expect(overridden.cache.hit)
    #expect(overridden.data.fitted.pipeline.train == "unused.csv")
  }

  @Test func holdoutAndTestFileAreDifferentKeys() throws {
    let train = try fixture("t.csv", smallCSV)
    let test = try fixture("empty-but-header.csv", "a,x,y\np,1,yes\n")
    let key1 = DataCache.key(pipeline: smallPipeline(train: train), train: Array(smallCSV.utf8), test: nil)
    let key2 = DataCache.key(pipeline: smallPipeline(train: train), train: Array(smallCSV.utf8), test: [])
    let key3 = DataCache.key(
      pipeline: smallPipeline(train: "other/path.csv", test: test), train: Array(smallCSV.utf8), test: nil)
    #expect(key1 != key2)
    #expect(key1 == key3)  // Paths do not count; the test file's presence and bytes do.
    let cache = try freshCache()
    let a = try LoadedData.loadReporting(smallPipeline(train: train), cache: cache)
    let b = try LoadedData.loadReporting(smallPipeline(train: train, test: test), cache: cache)
    #expect(a.cache.path != b.cache.path && !b.cache.hit)
  }

  @Test func largeSeedsRoundTrip() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    var p = smallPipeline(train: path)
    p.splitSeed = 0xFFFF_FFFF_FFFF_FFF1
    _ = try LoadedData.loadReporting(p, cache: cache)
    let r = try LoadedData.loadReporting(p, cache: cache)
    let cold = try LoadedData.load(p, cache: nil)
    #expect(r.cache.hit && r.data == cold)
  }

  @Test func emptySetsAndWidthsRoundTrip() throws {
    // No test rows (fraction 0), and no sparse features: zero-length arrays in the file.
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    let p = pipeline(
      dense: [dense("x")], labels: [LabelColumn(task: "y", column: "y", rule: .positive(["yes"]))],
      train: path, testFraction: 0)
    _ = try LoadedData.loadReporting(p, cache: cache)
    let r = try LoadedData.loadReporting(p, cache: cache)
    let cold = try LoadedData.load(p, cache: nil)
    #expect(r.cache.hit && r.data == cold)
    #expect(r.data.test.count == 0 && r.data.train.sparseWidth == 0)
  }

  @Test func fileEndsWithCRC32OfTheRest() throws {
    let path = try fixture("t.csv", smallCSV)
    let r = try LoadedData.loadReporting(smallPipeline(train: path), cache: try freshCache())
    let b = try bytes(try #require(r.cache.path))
    #expect(Array(b[0..<8]) == Array("MTLCDATA".utf8))
    #expect(b[8..<12].elementsEqual([2, 0, 0, 0]))
    let crc = Checksum.crc32(Array(b[..<(b.count - 4)]))
    #expect(b[(b.count - 4)...].elementsEqual((0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }))
    // Adult too: a file long enough for the eight-bytes-at-a-time loop, with an odd tail.
    let a = try LoadedData.loadReporting(adultPipeline(), cache: try freshCache())
    let ab = try bytes(try #require(a.cache.path))
    let acrc = Checksum.crc32(Array(ab[..<(ab.count - 4)]))
    #expect(ab[(ab.count - 4)...].elementsEqual((0..<4).map { UInt8(truncatingIfNeeded: acrc >> (8 * $0)) }))
  }

  @Test func damagedFilesAreIgnoredAndRewritten() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    let p = smallPipeline(train: path)
    let cold = try LoadedData.load(p, cache: nil)
    let entry = try #require(try LoadedData.loadReporting(p, cache: cache).cache.path)
    let good = try bytes(entry)

    var damages: [(String, [UInt8])] = []
    for i in [0, 9, 13, 20, good.count / 2, good.count - 40, good.count - 1] {
      var b = good
      b[i] ^= 0x10
      damages.append(("byte \(i) flipped", b))
    }
    for n in [0, 7, 19, 20, good.count / 2, good.count - 1] {
      damages.append(("truncated to \(n)", Array(good[..<n])))
    }
    damages.append(("one byte appended", good + [0]))
    damages.append(("foreign", Array("not a cache file at all, just some text".utf8)))
    damages.append(("zeros", [UInt8](repeating: 0, count: good.count)))

    for (what, b) in damages {
      try overwrite(entry, b)
      let r = try LoadedData.loadReporting(p, cache: cache)
      #expect(!r.cache.hit, "\(what)")
      #expect(r.cache.rejected != nil, "\(what)")
      #expect(r.cache.stored, "\(what)")
      #expect(r.data == cold, "\(what)")
      #expect(try bytes(entry) == good, "\(what): rewritten")
    }
  }

  @Test("an entry whose checksum holds but whose ids or class labels are out of range is not trusted")
  func outOfRangeIndicesAreNotTrusted() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    var p = smallPipeline(train: path)
    p.labels.append(LabelColumn(task: "k", column: "a", rule: .learnedClasses, missing: .mask))
    let cold = try LoadedData.load(p, cache: nil)
    let entry = try #require(try LoadedData.loadReporting(p, cache: cache).cache.path)
    let good = try bytes(entry)
    // The arrays follow the header: train's sparse ids [N, 1] first, then dense, then labels [N, 2].
    let headerLength = Int(good[12]) | Int(good[13]) << 8 | Int(good[14]) << 16 | Int(good[15]) << 24
    let base = 16 + headerLength
    let n = cold.train.count
    func forged(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
      var b = Array(good[..<(good.count - 4)])
      edit(&b)
      let crc = Checksum.crc32(b)
      return b + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }
    }
    func put<T>(_ value: T, at offset: Int, _ b: inout [UInt8]) {
      withUnsafeBytes(of: value) { for (i, byte) in $0.enumerated() { b[offset + i] = byte } }
    }
    let cases: [(String, [UInt8])] = [
      ("a sparse id past its table", forged { put(Int32(1000), at: base, &$0) }),
      ("a negative sparse id", forged { put(Int32(-1), at: base, &$0) }),
      ("a class index past the classes", forged { put(Float(7), at: base + 4 * n + 4 * n + 4, &$0) }),
      ("a class that is not an index", forged { put(Float(0.5), at: base + 4 * n + 4 * n + 4, &$0) }),
    ]
    for (what, b) in cases {
      try overwrite(entry, b)
      let r = try LoadedData.loadReporting(p, cache: cache)
      #expect(!r.cache.hit && r.cache.rejected != nil, "\(what): \(r.cache.rejected ?? "accepted")")
      let reason = r.cache.rejected ?? ""
      #expect(reason.contains("sparse id") || reason.contains("class label"), "\(what): \(reason)")
      // Loaded afresh (labels compared by their bits: masked ones are NaN).
      for (got, want) in [(r.data.train, cold.train), (r.data.test, cold.test)] {
        #expect(got.sparse == want.sparse && got.dense == want.dense, "\(what)")
        #expect(got.labels.map(\.bitPattern) == want.labels.map(\.bitPattern), "\(what)")
      }
    }
  }

  @Test func anEntryForAnotherKeyIsNotTrusted() throws {
    // A whole, valid file under the wrong name (copied by hand, or a hash collision).
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    let p = smallPipeline(train: path)
    var q = p
    q.splitSeed = 99
    let entryP = try #require(try LoadedData.loadReporting(p, cache: cache).cache.path)
    let entryQ = try #require(try LoadedData.loadReporting(q, cache: cache).cache.path)
    try overwrite(entryP, try bytes(entryQ))
    let r = try LoadedData.loadReporting(p, cache: cache)
    #expect(!r.cache.hit && r.cache.rejected?.contains("key") == true)
    #expect(r.data == (try LoadedData.load(p, cache: nil)))
  }

  @Test func aDirectoryInPlaceOfTheEntryIsSurvived() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache()
    let p = smallPipeline(train: path)
    let entry = try #require(try LoadedData.loadReporting(p, cache: cache).cache.path)
    try FileManager.default.removeItem(atPath: entry)
    try FileManager.default.createDirectory(atPath: entry, withIntermediateDirectories: false)
    let r = try LoadedData.loadReporting(p, cache: cache)
    #expect(!r.cache.hit && r.cache.rejected != nil && r.cache.notStored != nil)
    #expect(r.data == (try LoadedData.load(p, cache: nil)))
  }

  @Test func unwritableCacheStillLoads() throws {
    let path = try fixture("t.csv", smallCSV)
    // A directory that cannot be created: its parent is a file (chmod does not stop root).
    let blocker = try fixture("blocker", "a file")
    let cache = DataCache(directory: blocker + "/cache")
    let p = smallPipeline(train: path)
    for _ in 0..<2 {
      let r = try LoadedData.loadReporting(p, cache: cache)
      #expect(!r.cache.hit && !r.cache.stored && r.cache.notStored != nil)
      #expect(r.data == (try LoadedData.load(p, cache: nil)))
    }
  }

  @Test func dataOverTheLimitIsNotCached() throws {
    let path = try fixture("t.csv", smallCSV)
    let cache = try freshCache(maxBytes: 64)
    let r = try LoadedData.loadReporting(smallPipeline(train: path), cache: cache)
    #expect(!r.cache.stored && r.cache.notStored?.contains("limit") == true)
    #expect(!AtomicFile.exists(try #require(r.cache.path)))
  }

  @Test func errorsAreNotCachedAndUnchanged() throws {
    let cache = try freshCache()
    let bad = try fixture("t.csv", "a,x,y\np,1,yes\nq,abc,no\n")
    for _ in 0..<2 {
      expectDataError("\(bad):3: error: column `x`: `abc` is not a number") {
        _ = try LoadedData.load(smallPipeline(train: bad), cache: cache)
      }
    }
    expectDataError("/nonexistent/x.csv: error: cannot read the file: No such file or directory") {
      _ = try LoadedData.load(smallPipeline(train: "/nonexistent/x.csv"), cache: cache)
    }
    let folder = try temporaryFolder()
    expectDataError("\(folder): error: cannot read the file: is a directory") {
      _ = try LoadedData.load(smallPipeline(train: folder), cache: cache)
    }
    // Errors come in the same order as without a cache: the train file's syntax, then reading
    // the test file, then values (found while fitting).
    let ragged = try fixture("t.csv", "a,x,y\np,1,yes\nq,2\n")
    expectDataError("\(ragged):3: error: expected 3 fields, got 2") {
      _ = try LoadedData.load(smallPipeline(train: ragged, test: "/nonexistent/t.csv"), cache: cache)
    }
    expectDataError("/nonexistent/t.csv: error: cannot read the file: No such file or directory") {
      _ = try LoadedData.load(smallPipeline(train: bad, test: "/nonexistent/t.csv"), cache: cache)
    }
    #expect(!FileManager.default.fileExists(atPath: cache.directory))
  }

  @Test func withoutACacheNothingIsWritten() throws {
    let path = try fixture("t.csv", smallCSV)
    let r = try LoadedData.loadReporting(smallPipeline(train: path), cache: nil)
    #expect(r.cache == DataCache.Report(path: nil) && !r.cache.stored)
  }

  @Test func locationFromTheEnvironment() {
    func resolve(_ env: [String: String]) -> String? {
      DataCache.fromEnvironment { env[$0] }?.directory
    }
    #expect(resolve(["HOME": "/home/u"]) == "/home/u/.cache/mtlc")
    #expect(resolve(["HOME": "/home/u", "XDG_CACHE_HOME": "/x/cache"]) == "/x/cache/mtlc")
    #expect(resolve(["HOME": "/home/u", "XDG_CACHE_HOME": "relative"]) == "/home/u/.cache/mtlc")
    #expect(resolve(["HOME": "/home/u", "XDG_CACHE_HOME": ""]) == "/home/u/.cache/mtlc")
    #expect(resolve(["HOME": "/h", "XDG_CACHE_HOME": "/x", "MTLC_CACHE_DIR": "/c"]) == "/c")
    #expect(resolve(["MTLC_CACHE_DIR": "rel/dir"]) == "rel/dir")
    for off in ["off", "none", "OFF", "None"] {
      #expect(resolve(["HOME": "/h", "MTLC_CACHE_DIR": off]) == nil)
    }
    #expect(resolve(["MTLC_CACHE_DIR": "./off"]) == "./off")
    #expect(resolve([:]) == nil)
  }

  @Test func keyFileNames() {
    let c = DataCache(directory: "/c")
    #expect(c.path(forKey: 0xAB) == "/c/00000000000000ab.mtlcdata")
    #expect(c.path(forKey: .max) == "/c/ffffffffffffffff.mtlcdata")
  }
}
