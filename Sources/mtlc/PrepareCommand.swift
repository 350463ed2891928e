import ArgumentParser
import MTLData
import MTLGraph
import MTLSupport
import MTLTrain

#if canImport(Glibc)
  import Glibc
#endif

/// `mtlc prepare`: read, fit and encode a spec's data into the data cache, so that later runs over
/// the same data and pipeline start training at once.
struct Prepare: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fit the feature pipeline and encode the data into the cache (shards for large data), then stop.",
    discussion: """
      The source is the one `mtlc run` would use: data past \(DataSets.streamingThreshold >> 20) MiB (gzip \
      counted at 4x), several train files, or `data.streaming: true` is written as shards; smaller data as \
      one cache entry. \
      Needs a data cache (MTLC_CACHE_DIR, or the default under ~/.cache/mtlc).
      """)

  @Argument(help: "A YAML spec (compiled first) or a compiled model file.") var model: String
  @Option(help: "Training CSV or glob (instead of the spec's).") var train: String?
  @Option(help: "Test CSV (instead of a held-out fraction of the training rows).") var test: String?
  @Option(help: "Validation CSV (instead of the spec's `data.validation`).") var validation: String?
  @Option(name: .customLong("split-seed"), help: "Seed of the held-out split (instead of the spec's).")
  var splitSeed: UInt64?
  @Option(
    name: .customLong("set"),
    help: ArgumentHelp("Set a spec key, checked like the spec (repeatable).", valueName: "key=value"))
  var overrides: [String] = []

  func run() throws {
    guard let cache = DataCache.default else {
      eprint("error: no data cache to prepare into (MTLC_CACHE_DIR is off); set MTLC_CACHE_DIR to a directory")
      throw ExitCode(Exit.usage)
    }
    var graph = try loadModel(model, checkData: train == nil && test == nil && validation == nil, overrides: overrides)
    if let splitSeed { graph.pipeline.splitSeed = splitSeed }
    let start = monotonicNow()
    let sets: DataSets
    do {
      sets = try DataSets.load(
        graph.pipeline, trainPath: train, testPath: test, validationPath: validation, cache: cache)
    } catch { throw exitFor(error) }
    for s in sets.skipped { eprint(s.description) }
    for t in sets.truncations { eprint(t) }
    let counts =
      "\(sets.train.count) train, \(sets.test.count) test"
      + (sets.validation.map { ", \($0.count) validation" } ?? "") + " rows"
    let seconds = fixed(monotonicNow() - start, 2)
    switch sets.source {
    case .memory(let report):
      if report?.hit == true {
        print("already prepared: \(counts) in \(report?.path ?? cache.directory)")
      } else if let path = report?.path, report?.stored == true {
        print("prepared \(counts) in \(seconds) s: \(path)")
      } else {
        print(
          "read \(counts) in \(seconds) s; not stored: \(report?.notStored ?? report?.rejected ?? "several files are not cached in memory form")"
        )
      }
    case .shards(let dir, let reused, _):
      print(reused ? "already prepared: \(counts) in \(dir)" : "prepared \(counts) as shards in \(seconds) s: \(dir)")
    }
  }
}
