import Foundation
import Testing

/// Data at scale through the binary: `mtlc prepare`, a run that starts from the prepared shards,
/// a glob of gzip files, and the same metrics as the one file held in memory.
@Suite(.serialized)
struct StreamingCommandTests {
  typealias B = BinaryTests

  @Test("prepare writes shards a run then streams; a glob of gzip files gives the one file's metrics")
  func prepareThenRun() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let cache = ["MTLC_CACHE_DIR": dir.appendingPathComponent("cache").path]
    // Adult in two gzip files, each with the header.
    let text = try String(contentsOfFile: B.repo.appendingPathComponent("data/adult.csv").path, encoding: .utf8)
    var lines = text.split(separator: "\n").map(String.init)
    let header = lines.removeFirst()
    for (k, part) in [lines[..<20_000], lines[20_000...]].enumerated() {
      let plain = dir.appendingPathComponent("part-\(k).csv")
      try ([header] + part).joined(separator: "\n").appending("\n").write(to: plain, atomically: true, encoding: .utf8)
      let z = try B.shell("gzip -1 '\(plain.path)'")
      #expect(z.status == 0, "\(z.stderr)")
    }
    let common = ["--epochs", "2", "--set", "data.shard_rows=4096", "--set", "data.shuffle_window=9000"]
    let glob = ["--set", "data.train=\(dir.path)/part-*.csv.gz"]

    let prep = try B.mtlc(
      ["prepare", "specs/mmoe.yaml", "--set", "data.streaming=true"] + Array(common.dropFirst(2)) + glob,
      environment: cache)
    #expect(prep.status == 0, "\(prep.stderr)")
    #expect(prep.stdout.contains("prepared 26135 train, 6426 test rows as shards"), "\(prep.stdout)")
    let again = try B.mtlc(
      ["prepare", "specs/mmoe.yaml", "--set", "data.streaming=true"] + Array(common.dropFirst(2)) + glob,
      environment: cache)
    #expect(again.stdout.hasPrefix("already prepared: 26135 train, 6426 test rows"), "\(again.stdout)")

    let streamed = dir.appendingPathComponent("streamed.json")
    let r = try B.mtlc(
      ["run", "specs/mmoe.yaml", "--set", "data.streaming=true", "--metrics-out", streamed.path] + common + glob,
      environment: cache)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("(prepared before)"), "\(r.stderr)")
    // The single file, in memory, no cache.
    let memory = dir.appendingPathComponent("memory.json")
    let m = try B.mtlc(["run", "specs/mmoe.yaml", "--metrics-out", memory.path] + common)
    #expect(m.status == 0, "\(m.stderr)")
    #expect(!m.stderr.contains("shards"))
    #expect(try B.metrics(streamed) == B.metrics(memory))
  }

  @Test("--resume with another shuffle window refuses: the epoch's order would differ")
  func resumeWithAnotherWindow() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let ck = dir.appendingPathComponent("ck").path
    let first = try B.mtlc(["run", "specs/mmoe.yaml", "--epochs", "1", "--checkpoint-dir", ck, "-q"])
    #expect(first.status == 0, "\(first.stderr)")
    let r = try B.mtlc(
      [
        "run", "specs/mmoe.yaml", "--epochs", "2", "--checkpoint-dir", ck, "--resume", "--set",
        "data.shuffle_window=1000", "-q",
      ])
    #expect(r.status == 64, "\(r.stderr)")
    #expect(r.stderr.contains("data.shuffle_window 262144 (an epoch's order); resume with the same"), "\(r.stderr)")
  }

  @Test("prepare without a cache, and a glob that matches nothing, are clear errors")
  func prepareErrors() throws {
    let off = try B.mtlc(["prepare", "specs/mmoe.yaml"])
    #expect(off.status == 64 && off.stderr.contains("no data cache to prepare into"), "\(off.stderr)")
    let none = try B.mtlc(["run", "specs/mmoe.yaml", "--set", "data.train=/nonexistent/day-*.csv", "-q"])
    #expect(none.status != 0)
    #expect(none.stderr.contains("/nonexistent/day-*.csv"), "\(none.stderr)")
  }
}
