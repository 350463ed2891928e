import Foundation
import Testing

/// `mtlc schema`: the JSON Schema is well formed, its keys are the decoder's, and
/// `scripts/schema-check` validates every reference, bench and conformance spec against it with
/// PyPI's `jsonschema` while the structural invalid fixtures fail it. Enabled as the ONNX check is
/// (CI=true, MTLC_ONNX_TEST=1 as scripts/test sets, or .venv-schema present).
struct SchemaTests {
  typealias B = BinaryTests
  static let enabled =
    ProcessInfo.processInfo.environment["CI"] == "true"
    || ProcessInfo.processInfo.environment["MTLC_ONNX_TEST"] == "1"
    || FileManager.default.isExecutableFile(atPath: B.repo.appendingPathComponent(".venv-schema/bin/python").path)

  @Test("the schema is JSON with the spec's top-level keys, each section includable")
  func schemaShape() throws {
    let r = try B.mtlc(["schema"])
    #expect(r.status == 0)
    let s = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(s["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
    let props = try #require(s["properties"] as? [String: Any])
    #expect(
      Set(props.keys) == [
        "mtlc", "name", "description", "data", "features", "tasks", "experts", "gates", "towers", "training",
      ])
    #expect(s["required"] as? [String] == ["mtlc", "data", "features", "tasks"])
    #expect(s["additionalProperties"] as? Bool == false)
    let features = try #require(props["features"] as? [String: Any])
    #expect((features["anyOf"] as? [Any])?.count == 2, "a list of features, or {include: FILE}")
  }

  @Test(
    "every spec validates against the schema and the structural fixtures fail it",
    .enabled(if: SchemaTests.enabled, "set MTLC_ONNX_TEST=1 (or run scripts/schema-check once) to check the schema"))
  func schemaCheck() throws {
    let r = try B.script("schema-check", environment: ["MTLC": B.repo.appendingPathComponent(".build/debug/mtlc").path])
    let out = r.stdout + r.stderr
    #expect(r.status == 0, "\(out)")
    #expect(!out.contains("SKIPPED"), "jsonschema could not be installed, so the schema was not checked:\n\(out)")
    #expect(out.contains(", 0 problems"), "\(out)")
  }
}
