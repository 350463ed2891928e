// Reading, fitting and encoding in one call: what training needs from the data stage.

import MTLGraph

/// The train and test sets of a pipeline, encoded with a pipeline fitted on the train rows.
public struct LoadedData: Sendable {
  public var fitted: FittedPipeline
  public var train: Dataset
  public var test: Dataset
  /// Rows of the train file the train set holds (0-based data rows).
  public var trainRows: [Int]
  /// Rows the test set holds: of the train file for a holdout split, else of the test file.
  public var testRows: [Int]

  public init(
    fitted: FittedPipeline, train: Dataset, test: Dataset, trainRows: [Int], testRows: [Int]
  ) {
    self.fitted = fitted
    self.train = train
    self.test = test
    self.trainRows = trainRows
    self.testRows = testRows
  }

  /// Reads `trainPath ?? p.train`. With a test file (`testPath ?? p.test`), every train row trains
  /// and every test row tests; otherwise `DataSplit.holdout` with `p.testFraction` and
  /// `p.splitSeed` splits the train file. The pipeline is fitted on the train rows only.
  public static func load(_ p: Pipeline, trainPath: String? = nil, testPath: String? = nil) throws
    -> LoadedData
  {
    let trainFile = trainPath ?? p.train
    let trainTable = try RawTable.read(trainFile, delimiter: p.delimiter)
    if let testFile = testPath ?? p.test {
      let testTable = try RawTable.read(testFile, delimiter: p.delimiter)
      let trainRows = Array(0..<trainTable.rowCount)
      let testRows = Array(0..<testTable.rowCount)
      let fitted = try FittedPipeline.fit(p, table: trainTable, rows: trainRows)
      return LoadedData(
        fitted: fitted, train: try fitted.encode(table: trainTable, rows: trainRows),
        test: try fitted.encode(table: testTable, rows: testRows), trainRows: trainRows,
        testRows: testRows)
    }
    guard p.testFraction >= 0 && p.testFraction < 1 else {
      throw DataError(
        path: trainFile, message: "the test fraction must be in [0, 1), not \(p.testFraction)")
    }
    let (trainRows, testRows) = DataSplit.holdout(
      count: trainTable.rowCount, testFraction: p.testFraction, seed: p.splitSeed)
    let fitted = try FittedPipeline.fit(p, table: trainTable, rows: trainRows)
    return LoadedData(
      fitted: fitted, train: try fitted.encode(table: trainTable, rows: trainRows),
      test: try fitted.encode(table: trainTable, rows: testRows), trainRows: trainRows,
      testRows: testRows)
  }
}
