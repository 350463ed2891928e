import Foundation
import Testing

/// `mtlc validate` for CI: many specs with one summary, JSON and SARIF 2.1.0 a tool can parse, and
/// warnings that fail the check on request.
struct ValidateFormatTests {
  typealias B = BinaryTests
  static let invalid = "Tests/MTLFrontEndTests/Fixtures/invalid/146-activations.yaml"
  /// A valid spec with a warning (W0301: a gate nothing reads), checked without its data.
  static let warning = "Tests/ConformanceTests/Cases/deepctr_ple_2_levels.yaml"

  static func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  @Test("several specs end with one summary line, and any failure fails the run")
  func manySpecs() throws {
    let ok = try B.mtlc(["validate", "specs/mmoe.yaml", "specs/esmm.yaml", "specs/aitm.yaml"])
    #expect(ok.status == 0, "\(ok.stderr)")
    #expect(ok.stdout.hasSuffix("3 specs: 3 valid, 0 failed (0 errors, 0 warnings)\n"), "\(ok.stdout)")
    let bad = try B.mtlc(["validate", "specs/mmoe.yaml", Self.invalid])
    #expect(bad.status == 1)
    #expect(bad.stdout.contains("2 specs: 1 valid, 1 failed (3 errors, 0 warnings)"), "\(bad.stdout)")
    #expect(bad.stderr.contains("146-activations.yaml:19:77: error[E0204]"))
  }

  @Test("--format json: every file, its verdict and its located diagnostics")
  func jsonFormat() throws {
    let r = try B.mtlc(["validate", "specs/mmoe.yaml", Self.invalid, "--format", "json"])
    #expect(r.status == 1)
    #expect(r.stderr.isEmpty, "json goes to standard output only: \(r.stderr)")
    let j = try Self.json(r.stdout)
    #expect(j["valid"] as? Int == 1 && j["invalid"] as? Int == 1)
    let files = try #require(j["files"] as? [[String: Any]])
    #expect(files.map { $0["path"] as? String } == ["specs/mmoe.yaml", Self.invalid])
    #expect(files[0]["valid"] as? Bool == true && files[1]["valid"] as? Bool == false)
    let d = try #require((files[1]["diagnostics"] as? [[String: Any]])?.first)
    #expect(d["code"] as? String == "E0204" && d["severity"] as? String == "error")
    let loc = try #require(d["location"] as? [String: Any])
    #expect(loc["line"] as? Int == 19 && loc["column"] as? Int == 77)
    #expect((d["help"] as? String)?.contains("prelu") == true)
  }

  @Test("--format sarif: a SARIF 2.1.0 log with rules and regions")
  func sarifFormat() throws {
    let r = try B.mtlc(["validate", Self.invalid, "specs/mmoe.yaml", "--format", "sarif"])
    #expect(r.status == 1)
    let s = try Self.json(r.stdout)
    #expect(s["version"] as? String == "2.1.0")
    let run = try #require((s["runs"] as? [[String: Any]])?.first)
    let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
    #expect(driver["name"] as? String == "mtlc")
    let rules = try #require(driver["rules"] as? [[String: Any]])
    #expect(rules.map { $0["id"] as? String } == ["E0204", "E0205"])
    let results = try #require(run["results"] as? [[String: Any]])
    #expect(results.count == 3)
    for res in results {
      let i = try #require(res["ruleIndex"] as? Int)
      #expect(rules[i]["id"] as? String == res["ruleId"] as? String)
      #expect(res["level"] as? String == "error")
    }
    let loc = try #require((results[0]["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])
    #expect((loc["artifactLocation"] as? [String: Any])?["uri"] as? String == Self.invalid)
    let region = try #require(loc["region"] as? [String: Any])
    #expect(region["startLine"] as? Int == 19 && region["startColumn"] as? Int == 77)
  }

  @Test("--warnings-as-errors fails a spec that only warns")
  func warningsAsErrors() throws {
    let plain = try B.mtlc(["validate", Self.warning, "--no-data"])
    #expect(plain.status == 0, "\(plain.stderr)")
    #expect(plain.stderr.contains("warning[W0301]"))
    let strict = try B.mtlc(["validate", Self.warning, "--no-data", "--warnings-as-errors"])
    #expect(strict.status == 1)
    let sarif = try B.mtlc(["validate", Self.warning, "--no-data", "--warnings-as-errors", "--format", "sarif"])
    let run = try #require((try Self.json(sarif.stdout)["runs"] as? [[String: Any]])?.first)
    #expect((run["results"] as? [[String: Any]])?.first?["level"] as? String == "error")
  }
}
