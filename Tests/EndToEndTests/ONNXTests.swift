import Foundation
import Testing

/// ONNX parity: `scripts/onnx-parity` exports every reference model and checks onnxruntime's
/// outputs against `mtlc predict` to 1e-5. It needs onnxruntime from PyPI, so it runs only when
/// asked (MTLC_ONNX_TEST=1, as scripts/test does; always under CI=true) or when .venv-onnx exists
/// (the script made it before). Once it runs, onnxruntime missing is a failure, never a pass.
struct ONNXTests {
  static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let enabled =
    ProcessInfo.processInfo.environment["CI"] == "true"
    || ProcessInfo.processInfo.environment["MTLC_ONNX_TEST"] == "1"
    || (ProcessInfo.processInfo.environment["MTLC_ONNX_TEST"] != "0"
      && FileManager.default.isExecutableFile(atPath: repo.appendingPathComponent(".venv-onnx/bin/python").path))

  /// The mtlc built beside this test binary (any scratch path), else .build/debug/mtlc.
  static var binary: String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [beside, beside.deletingLastPathComponent(), repo.appendingPathComponent(".build/debug")] {
      let p = dir.appendingPathComponent("mtlc").path
      if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return repo.appendingPathComponent(".build/debug/mtlc").path
  }

  @Test(
    "every reference model's ONNX export matches mtlc predict under onnxruntime",
    .enabled(if: ONNXTests.enabled, "set MTLC_ONNX_TEST=1 (or run scripts/onnx-parity once) to check ONNX parity"))
  func parity() throws {
    let r = try BinaryTests.script("onnx-parity", environment: ["MTLC": Self.binary])
    let out = r.stdout + r.stderr
    #expect(r.status == 0, "scripts/onnx-parity failed:\n\(out)")
    #expect(!out.contains("SKIPPED"), "onnxruntime could not be installed, so ONNX parity was not checked:\n\(out)")
    #expect(out.contains("all outputs within"), "\(out)")
  }
}
