import Foundation
import Testing

/// `mtlc synth`: click logs and the MMoE paper's data, deterministic per seed, with their truth;
/// written atomically with a companion JSON; an ESMM spec trains on the click log.
struct SynthTests {
  typealias B = BinaryTests

  static func rows(_ path: String) throws -> [[String: String]] {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    let header = lines[0].split(separator: ",").map(String.init)
    return lines.dropFirst().map { l in
      Dictionary(
        uniqueKeysWithValues: zip(header, l.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
    }
  }

  @Test("clicklog: a purchase only after a click, the rates near the true probabilities, the same bytes for a seed")
  func clickLog() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let a = dir.appendingPathComponent("a.csv").path
    let b = dir.appendingPathComponent("b.csv").path
    let args = ["synth", "clicklog", "--rows", "20000", "--users", "300", "--items", "150", "--seed", "5"]
    #expect(try B.mtlc(args + ["-o", a]).status == 0)
    #expect(try B.mtlc(args + ["-o", b]).status == 0)
    #expect(FileManager.default.contentsEqual(atPath: a, andPath: b), "same seed, same file")
    let rows = try Self.rows(a)
    #expect(rows.count == 20000)
    #expect(!rows.contains { $0["purchase"] == "1" && $0["click"] == "0" })
    // The empirical rates are close to the mean true probabilities (20,000 draws: ±0.01).
    let clickRate = Double(rows.filter { $0["click"] == "1" }.count) / 20000
    let meanP = rows.reduce(0.0) { $0 + Double($1["p_click"]!)! } / 20000
    #expect(abs(clickRate - meanP) < 0.01, "click rate \(clickRate) against mean p_click \(meanP)")
    let buyRate = Double(rows.filter { $0["purchase"] == "1" }.count) / 20000
    let meanCtcvr = rows.reduce(0.0) { $0 + Double($1["p_click"]!)! * Double($1["p_cvr"]!)! } / 20000
    #expect(abs(buyRate - meanCtcvr) < 0.01, "purchase rate \(buyRate) against mean p_click·p_cvr \(meanCtcvr)")
    let json =
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + ".json"))) as! [String: Any]
    #expect(json["generator"] as? String == "mtlc synth clicklog")
    #expect(json["seed"] as? Int == 5)
    #expect(abs((json["click_rate"] as? Double ?? -1) - clickRate) < 1e-9)
    // Another seed, other data.
    #expect(
      try B.mtlc([
        "synth", "clicklog", "--rows", "20000", "--users", "300", "--items", "150", "--seed", "6", "-o", b, "--force",
      ]).status == 0)
    #expect(!FileManager.default.contentsEqual(atPath: a, andPath: b))
    // Existing files are kept without --force.
    let again = try B.mtlc(args + ["-o", a])
    #expect(again.status == 74)
  }

  @Test("the click log trains ESMM end to end")
  func clickLogTrainsESMM() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = dir.appendingPathComponent("log.csv").path
    #expect(
      try B.mtlc(["synth", "clicklog", "--rows", "8000", "--users", "200", "--items", "100", "-o", data]).status == 0)
    let r = try B.mtlc([
      "run", "bench/specs/clicklog_esmm.yaml", "--train", data, "--epochs", "2", "--set", "training.batch_size=256",
      "-q",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("ctr") && r.stdout.contains("ctcvr"))
  }

  @Test("mmoe: the label correlation follows p (1: identical tasks, 0: nearly unrelated)")
  func mmoeData() throws {
    let dir = try B.tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    var corr: [Double] = []
    for p in ["1", "0"] {
      let out = dir.appendingPathComponent("m\(p).csv").path
      #expect(try B.mtlc(["synth", "mmoe", "--p", p, "--rows", "3000", "-o", out]).status == 0)
      let json =
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + ".json"))) as! [String: Any]
      #expect(json["d"] as? Int == 100 && json["m"] as? Int == 10 && json["sigma"] as? Double == 0.01)
      corr.append(json["label_correlation"] as! Double)
      let header = try String(contentsOfFile: out, encoding: .utf8).prefix { $0 != "\n" }
      #expect(header.hasPrefix("x0,x1,") && header.hasSuffix("x99,y1,y2"))
    }
    #expect(corr[0] > 0.999, "p = 1: \(corr[0])")
    #expect(abs(corr[1]) < 0.2, "p = 0: \(corr[1])")
    #expect(try B.mtlc(["synth", "mmoe", "--p", "2", "-o", dir.appendingPathComponent("x.csv").path]).status == 64)
  }
}
