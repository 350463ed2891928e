// Fitting and encoding: vocabularies, dense normalization, labels.

import Foundation
import MTLData
import MTLGraph
import Testing

@Suite struct Vocabularies {
  // Byte order puts "B" before "a" and "é" (0xC3 0xA9) last.
  let csv = "c,y\nb,1\na,1\n?,1\nB,1\né,1\na,1\n,1\nb,1\nzz,1\n"

  @Test func learnedIsSortedByBytesWithRowZeroForMissingAndUnseen() throws {
    let t = try table(csv)
    let f = try FittedPipeline.fit(pipeline(sparse: [sparse("c")]), table: t, rows: Array(0..<8))
    #expect(f.sparse[0].values == ["B", "a", "b", "é"])
    #expect(f.vocabularySizes == ["c": 5])
    let d = try f.encode(table: t, rows: Array(0..<9))
    // b a ? B é a "" b zz(unseen)
    #expect(d.sparse == [3, 2, 0, 1, 4, 2, 0, 3, 0])
    #expect(d.missingCounts == [2])
    #expect(d.unseenCounts == [1])
  }

  @Test func minCountDropsRareValues() throws {
    let t = try table(csv)
    let f = try FittedPipeline.fit(
      pipeline(sparse: [sparse("c", .learned(minCount: 2))]), table: t, rows: Array(0..<9))
    #expect(f.sparse[0].values == ["a", "b"])
    #expect(f.sparse[0].tableRows == 3)
    let d = try f.encode(table: t, rows: Array(0..<9))
    #expect(d.sparse == [2, 1, 0, 0, 0, 1, 0, 2, 0])
    #expect(d.unseenCounts == [3])  // B, é, zz
    #expect(d.missingCounts == [2])
  }

  @Test func fittingSeesOnlyTrainingRows() throws {
    let t = try table(csv)
    let f = try FittedPipeline.fit(pipeline(sparse: [sparse("c")]), table: t, rows: [0, 1])
    #expect(f.sparse[0].values == ["a", "b"])
    #expect(f.trainRowCount == 2)
  }

  @Test func fixedKeepsListOrderAndMissingWins() throws {
    let t = try table(csv)
    let f = try FittedPipeline.fit(
      pipeline(sparse: [sparse("c", .fixed(["b", "?", "a"]))]), table: t, rows: [0])
    #expect(f.sparse[0].values == ["b", "?", "a"])
    #expect(f.sparse[0].tableRows == 4)
    let d = try f.encode(table: t, rows: Array(0..<4))
    #expect(d.sparse == [1, 3, 0, 0])
  }

  @Test func hashedIsStable() throws {
    let t = try table("c\nUnited-States\nMexico\n?\n\n")
    let f = try FittedPipeline.fit(
      pipeline(sparse: [sparse("c", .hashed(buckets: 1000))]), table: t, rows: [0])
    #expect(f.sparse[0].values == [])
    #expect(f.vocabularySizes["c"] == 1001)
    let d = try f.encode(table: t, rows: [0, 1, 2])
    // 1 + FNV-1a-64 % 1000: fnv("United-States") = 0x27d9a3a102bb9ca3, fnv("Mexico") = 0x035b035a2ccc7f56.
    #expect(d.sparse == [764, 919, 0])
    #expect(d.missingCounts == [1])
  }

  @Test func pipelineProblemsAreReported() throws {
    let t = try table(csv)
    expectDataError("t.csv: error: sparse feature `c`: minCount must be at least 1, not 0") {
      _ = try FittedPipeline.fit(
        pipeline(sparse: [sparse("c", .learned(minCount: 0))]), table: t, rows: [0])
    }
    expectDataError("t.csv: error: sparse feature `c`: `a` is twice in the fixed vocabulary") {
      _ = try FittedPipeline.fit(
        pipeline(sparse: [sparse("c", .fixed(["a", "b", "a"]))]), table: t, rows: [0])
    }
    expectDataError("t.csv: error: no training rows to fit the feature pipeline on") {
      _ = try FittedPipeline.fit(pipeline(sparse: [sparse("c")]), table: t, rows: [])
    }
  }
}

@Suite struct DenseFeatures {
  let csv = "x,y\n1,5\n2,?\n4,5\n7,5\n?,5\n-3.5e1,5\n"

  func fitted(_ n: Normalization, column: String = "x") throws -> (FittedPipeline, RawTable) {
    let t = try table(csv)
    return (
      try FittedPipeline.fit(pipeline(dense: [dense(column, n)]), table: t, rows: [0, 1, 2, 3, 4]),
      t
    )
  }

  @Test func statisticsAreOverNonMissingTrainingValues() throws {
    let (f, _) = try fitted(.none)
    let s = f.dense[0]
    #expect(s.count == 4)
    #expect(s.min == 1 && s.max == 7 && s.mean == 3.5)
    #expect(abs(s.std - 2.29128784747792) < 1e-12)  // population std of 1 2 4 7
  }

  @Test func minmax() throws {
    let (f, t) = try fitted(.minmax)
    let d = try f.encode(table: t, rows: Array(0..<6))
    #expect(d.dense == [0, Float(1.0 / 6), 0.5, 1, 0, Float(-36.0 / 6)])
  }

  @Test func standard() throws {
    let (f, t) = try fitted(.standard)
    let d = try f.encode(table: t, rows: Array(0..<5))
    let std = 2.29128784747792
    #expect(
      d.dense == [Float(-2.5 / std), Float(-1.5 / std), Float(0.5 / std), Float(3.5 / std), 0])
  }

  @Test func logAndNone() throws {
    var (f, t) = try fitted(.log)
    #expect(
      try f.encode(table: t, rows: Array(0..<6)).dense == [
        Float(log1p(1.0)), Float(log1p(2.0)), Float(log1p(4.0)), Float(log1p(7.0)), 0, 0,
      ])
    (f, t) = try fitted(.none)
    #expect(try f.encode(table: t, rows: Array(0..<6)).dense == [1, 2, 4, 7, 0, -35])
  }

  @Test func constantColumnsAndAllMissingColumnsEncodeAsZero() throws {
    for n in [Normalization.minmax, .standard] {
      let (f, t) = try fitted(n, column: "y")
      #expect(try f.encode(table: t, rows: Array(0..<6)).dense == [0, 0, 0, 0, 0, 0])
    }
    let t = try table("x\n?\n?\n")
    let f = try FittedPipeline.fit(
      pipeline(dense: [dense("x", .standard)]), table: t, rows: [0, 1])
    #expect(f.dense[0].count == 0 && f.dense[0].mean == 0 && f.dense[0].std == 0)
  }

  @Test func badNumbersNameFileRowColumnAndText() throws {
    let cases: [(String, String)] = [
      ("abc", "`abc` is not a number"),
      ("NaN", "`NaN` is not a number"),
      ("inf", "`inf` is not a number"),
      ("-infinity", "`-infinity` is not a number"),
      ("0x10", "`0x10` is not a number"),
      ("1,000", "`1,000` is not a number"),
      ("1e", "`1e` is not a number"),
      (".", "`.` is not a number"),
      (
        "",
        "an empty cell is not a number (list \"\" in the feature's `missing` to treat it as missing)"
      ),
      ("1e999", "`1e999` is out of the range of a Double"),
    ]
    for (text, message) in cases {
      let t = try table("x,y\n1,2\n\"\(text)\",3\n")
      expectDataError("t.csv:3: error: column `x`: \(message)") {
        _ = try FittedPipeline.fit(pipeline(dense: [dense("x")]), table: t, rows: [0, 1])
      }
      // Encoding other rows finds it too.
      let f = try FittedPipeline.fit(pipeline(dense: [dense("x")]), table: t, rows: [0])
      expectDataError("t.csv:3: error: column `x`: \(message)") {
        _ = try f.encode(table: t, rows: [0, 1])
      }
    }
  }

  @Test func goodNumbers() throws {
    let t = try table("x\n+3\n-0.5\n.25\n7.\n1E3\n2e-2\n1234567890123456789\n")
    let f = try FittedPipeline.fit(pipeline(dense: [dense("x")]), table: t, rows: Array(0..<7))
    #expect(
      try f.encode(table: t, rows: Array(0..<7)).dense == [
        3, -0.5, 0.25, 7, 1000, 0.02, 1_234_567_890_123_456_789,
      ])
  }

  @Test func emptyIsMissingWhenListed() throws {
    let t = try table("x,y\n1,a\n,b\n3,c\n")
    let f = try FittedPipeline.fit(
      pipeline(dense: [dense("x", .standard, missing: [""])]), table: t, rows: [0, 1, 2])
    #expect(f.dense[0].mean == 2)
    #expect(try f.encode(table: t, rows: [1]).dense == [0])
  }

  @Test func valuesTooLargeForAFloatAreReported() throws {
    let t = try table("x\n1e300\n")
    let f = try FittedPipeline.fit(pipeline(dense: [dense("x")]), table: t, rows: [0])
    expectDataError(
      "t.csv:2: error: column `x`: `1e300` does not fit in a Float after none normalization"
    ) {
      _ = try f.encode(table: t, rows: [0])
    }
  }
}

@Suite struct Labels {
  let csv = "inc,score,mar\n>50K,3.5,Never-married\n<=50K,0.5,Divorced\n>50K,-2,Never-married\n"

  @Test func eachRule() throws {
    let t = try table(csv)
    let p = pipeline(
      sparse: [sparse("mar")],
      labels: [
        LabelColumn(task: "income", column: "inc", rule: .positive([">50K"])),
        LabelColumn(task: "high", column: "score", rule: .threshold(0.5)),
        LabelColumn(task: "score", column: "score", rule: .value),
        LabelColumn(task: "marital", column: "mar", rule: .positive(["Never-married", "Widowed"])),
      ])
    let f = try FittedPipeline.fit(p, table: t, rows: [0, 1, 2])
    let d = try f.encode(table: t, rows: [0, 1, 2])
    #expect(d.labelWidth == 4)
    #expect(d.labels == [1, 1, 3.5, 1, 0, 0, 0.5, 0, 1, 0, -2, 1])
  }

  @Test func emptyOrMissingLabelsAreErrors() throws {
    let t = try table("inc,x\n>50K,1\n,2\n?,3\n")
    let p = pipeline(
      sparse: [sparse("x")],
      labels: [LabelColumn(task: "income", column: "inc", rule: .positive([">50K"]))])
    let f = try FittedPipeline.fit(p, table: t, rows: [0])
    expectDataError(
      "t.csv:3: error: column `inc`: the label is empty; every example needs a label for task `income`"
    ) {
      _ = try f.encode(table: t, rows: [0, 1])
    }
    expectDataError(
      "t.csv:4: error: column `inc`: the label is missing (`?`); every example needs a label for task `income`"
    ) { _ = try f.encode(table: t, rows: [2]) }
  }

  @Test func errorsNameTheTaskEvenWhenTasksShareAColumn() throws {
    let t = try table("s,x\n1,a\n?,b\n")
    let p = pipeline(
      sparse: [sparse("x")],
      labels: [
        LabelColumn(task: "high", column: "s", rule: .threshold(0)),
        LabelColumn(task: "score", column: "s", rule: .value),
      ])
    let f = try FittedPipeline.fit(p, table: t, rows: [0])
    expectDataError(
      "t.csv:3: error: column `s`: the label is missing (`?`); every example needs a label for task `high`"
    ) { _ = try f.encode(table: t, rows: [1]) }
    let missing = try table("x\na\n")
    expectDataError(
      "t.csv:1: error: no column `s` in the header (needed by the labels of task `high`)"
    ) {
      _ = try f.encode(table: missing, rows: [0])
    }
  }

  @Test func nonNumericRegressionLabel() throws {
    let t = try table("y,x\n1.5,1\nhigh,2\n")
    let p = pipeline(
      sparse: [sparse("x")], labels: [LabelColumn(task: "y", column: "y", rule: .value)])
    let f = try FittedPipeline.fit(p, table: t, rows: [0])
    expectDataError("t.csv:3: error: column `y`: `high` is not a number") {
      _ = try f.encode(table: t, rows: [0, 1])
    }
  }
}

@Suite struct FittedPipelineStorage {
  @Test func codableRoundTrip() throws {
    let t = try table("a,b,c\nx,1,yes\ny,2,no\n")
    let p = pipeline(
      sparse: [sparse("a"), sparse("a", .hashed(buckets: 3))].enumerated().map { i, f in
        var f = f
        f.name = "a\(i)"
        return f
      }, dense: [dense("b", .standard)],
      labels: [LabelColumn(task: "c", column: "c", rule: .positive(["yes"]))])
    let f = try FittedPipeline.fit(p, table: t, rows: [0, 1])
    let back = try JSONDecoder().decode(FittedPipeline.self, from: try JSONEncoder().encode(f))
    #expect(back == f)
    #expect(back.vocabularySizes == ["a0": 3, "a1": 4])
  }
}
