// Shared test helpers: fixtures written to a temporary folder, and pinned-error checks.

import Foundation
import MTLData
import MTLGraph
import Testing

/// A fresh temporary folder for one test's fixture files.
func temporaryFolder() throws -> String {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "mtldata-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}

/// Writes `bytes` to `name` in a fresh temporary folder and returns the path.
func fixture(_ name: String, _ bytes: [UInt8]) throws -> String {
  let path = try temporaryFolder() + "/" + name
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  return path
}

func fixture(_ name: String, _ text: String) throws -> String {
  try fixture(name, Array(text.utf8))
}

/// Parses CSV text held in memory, reported as `t.csv`.
func table(_ text: String, delimiter: String = ",") throws -> RawTable {
  try RawTable.parse(Array(text.utf8), path: "t.csv", delimiter: delimiter)
}

/// Checks that `body` throws a DataError rendering exactly as `expected`.
func expectDataError(
  _ expected: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("no error thrown; expected \(expected)", sourceLocation: sourceLocation)
  } catch let e as DataError {
    #expect(e.description == expected, sourceLocation: sourceLocation)
  } catch {
    Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
  }
}

/// A pipeline over small fixtures.
func pipeline(
  sparse: [SparseFeature] = [], dense: [DenseFeature] = [], labels: [LabelColumn] = [],
  train: String = "t.csv",
  test: String? = nil, testFraction: Double = 0.25
) -> Pipeline {
  Pipeline(
    train: train, test: test, testFraction: testFraction, splitSeed: 42, sparse: sparse,
    dense: dense, labels: labels)
}

func sparse(
  _ column: String, _ vocabulary: Vocabulary = .learned(minCount: 1), missing: [String] = ["?"]
)
  -> SparseFeature
{
  SparseFeature(
    name: column, column: column, vocabulary: vocabulary, missing: missing, embeddingDim: 4)
}

func dense(_ column: String, _ normalize: Normalization = .none, missing: [String] = ["?"])
  -> DenseFeature
{
  DenseFeature(name: column, column: column, normalize: normalize, missing: missing)
}
