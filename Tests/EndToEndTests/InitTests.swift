import Foundation
import Testing

/// `mtlc init`: a commented starting spec from a CSV that validates and trains; its guesses on
/// the adult data; bad requests and existing files refused with the right exit codes.
struct InitTests {
  typealias B = BinaryTests

  @Test("init writes a spec from the adult data that validates and trains")
  func adultSpecTrains() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let spec = dir.appendingPathComponent("adult.yaml").path
    let r = try B.mtlc([
      "init", "data/adult.csv", "--task", "income=income-per-year:>50K", "--task", "hours=hours-per-week:regression",
      "-o", spec,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let text = try String(contentsOfFile: spec, encoding: .utf8)
    // The guesses, each with its reason.
    #expect(text.contains("missing: [\"?\"]  # seen in the sample: `?`"))
    #expect(text.contains("{name: capital-gain, kind: dense, normalize: log}  # numbers ≥ 0, skewed"))
    #expect(text.contains("{name: age, kind: dense, normalize: standard}  # numbers in [17, 90]"))
    #expect(text.contains("{name: native-country, kind: sparse, embedding_dim: 15}  # 41 distinct values"))
    #expect(text.contains("income: {type: binary, label: {column: income-per-year, positive: [\">50K\"]}}"))
    #expect(text.contains("hours: {type: regression"))
    // Labels are not features; two tasks share experts.
    #expect(!text.contains("{name: income-per-year"))
    #expect(text.contains("experts:\n  shared: {count: 4"))
    let v = try B.mtlc(["validate", spec])
    #expect(v.status == 0, "\(v.stderr)")
    let run = try B.mtlc(["run", spec, "--epochs", "1", "-q"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.contains("income") && run.stdout.contains("hours"))
  }

  @Test("identifiers are hashed, awkward column names get a valid name and a column")
  func identifiersAndNames() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    var csv = "user id,item_id,price,clicked\n"
    for i in 0..<3000 { csv += "\(i * 7),\(i % 50),\(Double(i % 13) * 1.5),\(i % 3 == 0 ? "yes" : "no")\n" }
    let data = dir.appendingPathComponent("log.csv")
    try csv.write(to: data, atomically: true, encoding: .utf8)
    let spec = dir.appendingPathComponent("log.yaml").path
    let r = try B.mtlc(["init", data.path, "--task", "click=clicked:yes", "-o", spec])
    #expect(r.status == 0, "\(r.stderr)")
    let text = try String(contentsOfFile: spec, encoding: .utf8)
    #expect(text.contains("{name: user_id, column: \"user id\", kind: sparse"), "\(text)")
    #expect(text.contains("vocabulary: {hash_buckets: 8192}}  # integers that look like identifiers, 3000 distinct"))
    #expect(text.contains("{name: item_id, kind: sparse"))
    #expect(text.contains("{name: price, kind: dense"))
    #expect(text.contains("towers:\n  click: {input: features"))
    #expect(text.contains("train: \"log.csv\""))
    let run = try B.mtlc(["run", spec, "--epochs", "1", "-q"])
    #expect(run.status == 0, "\(run.stderr)")
  }

  @Test("init samples a gzip-compressed file from its text")
  func gzipData() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    var csv = "x,c,y\n"
    for i in 0..<25000 { csv += "\(i % 97),k\(i % 13),\(i % 2)\n" }
    let data = dir.appendingPathComponent("big.csv")
    try csv.write(to: data, atomically: true, encoding: .utf8)
    let gz = Process()
    gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
    gz.arguments = ["-9", data.path]
    try gz.run()
    gz.waitUntilExit()
    #expect(gz.terminationStatus == 0)
    let r = try B.mtlc(["init", data.path + ".gz", "--task", "y=y:1"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("from 20000 sampled rows"))
    #expect(r.stdout.contains("{name: c, kind: sparse, embedding_dim: 11}  # 13 distinct values"))
  }

  @Test("init refuses a missing column (data error), a malformed --task (usage) and an existing file")
  func refusals() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let spec = dir.appendingPathComponent("s.yaml").path
    let missing = try B.mtlc(["init", "data/adult.csv", "--task", "x=no-such-column:1", "-o", spec])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("task `x` reads column `no-such-column`, which is not in the header"))
    #expect(!FileManager.default.fileExists(atPath: spec))
    let malformed = try B.mtlc(["init", "data/adult.csv", "--task", "income", "-o", spec])
    #expect(malformed.status == 64)
    #expect(malformed.stderr.contains("expected NAME=COLUMN:RULE"))
    try "keep me".write(toFile: spec, atomically: true, encoding: .utf8)
    let exists = try B.mtlc(["init", "data/adult.csv", "--task", "i=income-per-year:>50K", "-o", spec])
    #expect(exists.status == 74)
    #expect(try String(contentsOfFile: spec, encoding: .utf8) == "keep me")
  }
}
