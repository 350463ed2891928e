// Dirty data: every kind of bad input is either an error naming file, line and column, or, under
// `onBadRow: .skip`, a counted and reported drop; training never sees a NaN that came from data.
//
// Cases pinned elsewhere (error policy) and extended here for `skip`:
// - ragged row, unterminated quote, text after a closing quote, invalid UTF-8, NUL, empty file,
//   header only, duplicate header names, missing column, BOM, mixed line ends: CSVTests.swift;
// - non-numeric, NaN/inf, `1e999`, empty dense cells, values too large for a Float, missing and
//   non-numeric labels: PipelineTests.swift (Dense, Labels).

import Foundation
import MTLGraph
import Testing

@testable import MTLData

/// Columns `job` (sparse), `age` (dense, standard), `inc` (binary label), `score` (regression).
private func people(train: String, test: String? = nil, onBadRow: BadRowPolicy) -> Pipeline {
  var p = pipeline(
    sparse: [sparse("job")], dense: [dense("age", .standard)],
    labels: [
      LabelColumn(task: "income", column: "inc", rule: .positive([">50K"])),
      LabelColumn(task: "score", column: "score", rule: .value),
    ], train: train, test: test, testFraction: 0.25)
  p.onBadRow = onBadRow
  return p
}

private func load(_ p: Pipeline) throws -> LoadedData { try LoadedData.load(p, cache: nil) }

/// Loads `csv` as the train file under both policies: the error policy must throw `error`
/// (with `FILE` standing for the path); skip must give `skipped` and `rows` surviving rows.
/// Every row trains (no holdout), so the error policy meets the bad rows in file order.
private func expectBoth(
  _ csv: [UInt8], error: String, skipped: String, rows: Int,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let path = try fixture("x.csv", csv)
  var p = people(train: path, onBadRow: .error)
  p.testFraction = 0
  expectDataError(error.replacingOccurrences(of: "FILE", with: path), sourceLocation: sourceLocation) {
    _ = try load(p)
  }
  p.onBadRow = .skip
  let d = try load(p)
  #expect(
    d.skipped.map(\.description) == [skipped.replacingOccurrences(of: "FILE", with: path)],
    sourceLocation: sourceLocation)
  #expect(d.train.count + d.test.count == rows, sourceLocation: sourceLocation)
  expectAllFinite(d, sourceLocation: sourceLocation)
}

private func expectAllFinite(_ d: LoadedData, sourceLocation: SourceLocation = #_sourceLocation) {
  for set in [d.train, d.test] {
    #expect(set.dense.allSatisfy { $0.isFinite }, sourceLocation: sourceLocation)
    #expect(set.labels.allSatisfy { $0.isFinite }, sourceLocation: sourceLocation)
  }
}

private let header = "job,age,inc,score\n"
private let good = "a,30,>50K,1.5\nb,40,<=50K,2\nc,50,>50K,3\n"

@Suite struct DirtyRows {
  @Test func raggedRows() throws {
    try expectBoth(
      Array((header + good + "d,60,>50K\ne,70,>50K,4,x\nf,80,<=50K\n").utf8),
      error: "FILE:5: error: expected 4 fields, got 3",
      skipped:
        "FILE: skipped 3 bad rows (2 × expected 4 fields, got 3: rows 5, 7; 1 × expected 4 fields, got 5: row 6)",
      rows: 3)
  }

  @Test func textAfterAClosingQuote() throws {
    try expectBoth(
      Array((header + good + "\"d\"x,60,>50K,1\n").utf8),
      error: "FILE:5: error: column `job`: unexpected `x` after the closing quote of a quoted field",
      skipped:
        "FILE: skipped 1 bad row (1 × column `job`: text after the closing quote of a quoted field: row 5)",
      rows: 3)
  }

  /// A stray quote that a later quote closes swallows the lines between: one bad record, reported
  /// with every line it spans.
  @Test func unbalancedQuoteClosedByALaterOne() throws {
    try expectBoth(
      Array((header + good + "d,\"60,>50K,1\ne,70,>50K,2\nf,\"80,<=50K,3\n" + good).utf8),
      error: "FILE:5: error: column `age`: unexpected `8` after the closing quote of a quoted field",
      skipped:
        "FILE: skipped 1 bad row (1 × column `age`: text after the closing quote of a quoted field: row 5-7)",
      rows: 6)
  }

  @Test func nonNumericDenseValue() throws {
    try expectBoth(
      Array((header + good + "d,abc,>50K,1\ne,x y,>50K,1\nf,abc,>50K,1\n").utf8),
      error: "FILE:5: error: column `age`: `abc` is not a number",
      skipped: "FILE: skipped 3 bad rows (3 × column `age`: not a number (`abc`, `x y`): rows 5, 6, 7)",
      rows: 3)
  }

  @Test func emptyDenseCellNotListedAsMissing() throws {
    try expectBoth(
      Array((header + good + "d,,>50K,1\n").utf8),
      error:
        "FILE:5: error: column `age`: an empty cell is not a number (list \"\" in the feature's `missing` to treat it as missing)",
      skipped: "FILE: skipped 1 bad row (1 × column `age`: an empty cell is not a number: row 5)",
      rows: 3)
  }

  @Test(arguments: [
    ("NaN", "`NaN` is not a number", "not a number"),
    ("nan", "`nan` is not a number", "not a number"),
    ("inf", "`inf` is not a number", "not a number"),
    ("-Infinity", "`-Infinity` is not a number", "not a number"),
    ("1e999", "`1e999` is out of the range of a Double", "out of the range of a Double"),
  ])
  func nanAndInfinityText(_ text: String, _ error: String, _ reason: String) throws {
    // In a dense column.
    try expectBoth(
      Array((header + good + "d,\(text),>50K,1\n").utf8),
      error: "FILE:5: error: column `age`: \(error)",
      skipped: "FILE: skipped 1 bad row (1 × column `age`: \(reason) (`\(text)`): row 5)", rows: 3)
    // As a regression label.
    try expectBoth(
      Array((header + good + "d,1,>50K,\(text)\n").utf8),
      error: "FILE:5: error: column `score`: \(error)",
      skipped: "FILE: skipped 1 bad row (1 × column `score`: \(reason) (`\(text)`): row 5)", rows: 3)
  }

  @Test func valuesTooLargeForAFloat() throws {
    // Under `normalize: none` (decidable per row) and as a regression label.
    var p = pipeline(
      dense: [dense("age")], labels: [LabelColumn(task: "score", column: "score", rule: .value)])
    let path = try fixture("x.csv", header + good + "d,1e39,>50K,1\ne,1,>50K,-1e300\n")
    p.train = path
    p.testFraction = 0
    expectDataError("\(path):5: error: column `age`: `1e39` does not fit in a Float after none normalization") {
      _ = try load(p)
    }
    p.onBadRow = .skip
    let d = try load(p)
    #expect(
      d.skipped.map(\.description) == [
        "\(path): skipped 2 bad rows (1 × column `age`: does not fit in a Float (`1e39`): row 5; 1 × column `score`: does not fit in a Float (`-1e300`): row 6)"
      ])
    expectAllFinite(d)
    // After `standard` normalization the same value is fine (it is not too large for a Double).
    let ok = try load(people(train: try fixture("y.csv", header + good + "d,1e39,>50K,1\n"), onBadRow: .skip))
    #expect(ok.skipped.isEmpty && ok.train.count + ok.test.count == 4)
    expectAllFinite(ok)
  }

  @Test func missingLabel() throws {
    try expectBoth(
      Array((header + good + "d,1,,1\ne,1,?,1\n").utf8),
      error: "FILE:5: error: column `inc`: the label is empty; every example needs a label for task `income`",
      skipped:
        "FILE: skipped 2 bad rows (1 × column `inc`: empty label for task `income`: row 5; 1 × column `inc`: missing label for task `income` (`?`): row 6)",
      rows: 3)
  }

  @Test func regressionLabelTheRuleDoesNotRecognise() throws {
    try expectBoth(
      Array((header + good + "d,1,>50K,high\ne,1,>50K,\n").utf8),
      error: "FILE:5: error: column `score`: `high` is not a number",
      skipped:
        "FILE: skipped 2 bad rows (1 × column `score`: not a number (`high`): row 5; 1 × column `score`: empty label for task `score`: row 6)",
      rows: 3)
    // Threshold rules read numbers too; positive rules take any text (not listed: 0).
    var p = pipeline(labels: [LabelColumn(task: "t", column: "score", rule: .threshold(2))])
    p.train = try fixture("x.csv", header + good + "d,1,>50K,high\n")
    p.onBadRow = .skip
    let d = try load(p)
    #expect(d.skipped.map(\.summary) == ["1 bad row (1 × column `score`: not a number (`high`): row 5)"])
  }

  @Test func invalidUTF8AndNUL() throws {
    try expectBoth(
      Array((header + good).utf8) + Array("d".utf8) + [0xFF] + Array(",1,>50K,1\ne,2".utf8) + [0]
        + Array(",>50K,1\n".utf8),
      error: "FILE:5: error: column `job`: invalid UTF-8 at byte 2 of the cell",
      skipped:
        "FILE: skipped 2 bad rows (1 × column `job`: invalid UTF-8: row 5; 1 × column `age`: a NUL byte: row 6)",
      rows: 3)
  }

  /// Every kind of bad row in one file: only the good rows are left, exactly as if the bad ones
  /// had been deleted, every value is finite, and the report counts each reason.
  @Test func trainingNeverSeesANaN() throws {
    let lines: [[UInt8]] = [
      Array("job,age,inc,score".utf8),  // 1
      Array("a,30,>50K,1.5".utf8),  // 2 good
      Array("b,NaN,<=50K,2".utf8),  // 3
      Array("c,40,>50K".utf8),  // 4 ragged
      Array("d,inf,>50K,1".utf8),  // 5
      Array("e,50,,2".utf8),  // 6 empty label
      Array("f,60,?,2".utf8),  // 7 missing label
      Array("g,70,>50K,high".utf8),  // 8
      Array("h,1e999,>50K,1".utf8),  // 9
      Array("i,80,>50K,1e39".utf8),  // 10
      Array("j,?,<=50K,3".utf8),  // 11 good (age missing)
      Array("k,90,>50K,4,extra".utf8),  // 12 ragged
      Array("\"l\"x,1,>50K,1".utf8),  // 13
      Array("m,-Infinity,>50K,1".utf8),  // 14
      Array("n,100,<=50K,-2".utf8),  // 15 good
      Array("o,,>50K,1".utf8),  // 16
      Array("p,nan,>50K,5".utf8),  // 17
      Array("q".utf8) + [0xFF] + Array(",1,>50K,1".utf8),  // 18
      Array("r,1".utf8) + [0] + Array(",>50K,1".utf8),  // 19
      Array("s,20,<=50K,0.5".utf8),  // 20 good
    ]
    let path = try fixture("dirty.csv", Array(lines.joined(separator: [0x0A])) + [0x0A])
    let clean = try fixture(
      "clean.csv", "job,age,inc,score\na,30,>50K,1.5\nj,?,<=50K,3\nn,100,<=50K,-2\ns,20,<=50K,0.5\n")

    expectDataError("\(path):4: error: expected 4 fields, got 3") {
      _ = try load(people(train: path, onBadRow: .error))
    }
    let d = try load(people(train: path, onBadRow: .skip))
    #expect(
      d.skipped.map(\.description) == [
        "\(path): skipped 15 bad rows (1 × expected 4 fields, got 3: row 4; 1 × expected 4 fields, got 5: row 12; "
          + "1 × column `job`: text after the closing quote of a quoted field: row 13; "
          + "1 × column `job`: invalid UTF-8: row 18; 1 × column `age`: a NUL byte: row 19; "
          + "4 × column `age`: not a number (`NaN`, `inf`, `-Infinity`, ...): rows 3, 5, 14, 17; "
          + "1 × column `inc`: empty label for task `income`: row 6; "
          + "1 × column `inc`: missing label for task `income` (`?`): row 7; "
          + "1 × column `score`: not a number (`high`): row 8; "
          + "1 × column `age`: out of the range of a Double (`1e999`): row 9; "
          + "1 × column `score`: does not fit in a Float (`1e39`): row 10; "
          + "1 × column `age`: an empty cell is not a number: row 16)"
      ])
    #expect(d.trainSkipped?.count == 15 && d.testSkipped == nil)
    expectAllFinite(d)
    // The split is over the 4 surviving rows; the result is that of the clean file.
    let (trainRows, testRows) = DataSplit.holdout(count: 4, testFraction: 0.25, seed: 42)
    #expect(d.trainRows == trainRows && d.testRows == testRows)
    let c = try load(people(train: clean, onBadRow: .error))
    #expect(d.fitted.sparse == c.fitted.sparse && d.fitted.dense == c.fitted.dense)
    #expect(d.train == c.train && d.test == c.test)
    // The surviving rows keep their file lines.
    let t = try RawTable.read(path, onBadRow: .skip).droppingBadRows(for: people(train: path, onBadRow: .skip))
    #expect((0..<t.rowCount).map(t.line(ofRow:)) == [2, 11, 15, 20])
    #expect(t.skipped == d.trainSkipped)
  }

  @Test func theReportListsTheFirstRowsAndCountsTheRest() throws {
    let bad = (0..<8).map { "x\($0),\($0 % 2 == 0 ? "abc" : "a\($0)"),>50K,1\n" }.joined()
    let path = try fixture("x.csv", header + good + bad)
    let d = try load(people(train: path, onBadRow: .skip))
    #expect(
      d.skipped.map(\.summary) == [
        "8 bad rows (8 × column `age`: not a number (`abc`, `a1`, `a3`, ...): rows 5, 6, 7, 8, 9, ...)"
      ])
  }

  @Test func aSeparateTestFileIsCleanedToo() throws {
    let train = try fixture("train.csv", header + good + "d,NaN,>50K,1\n")
    let test = try fixture("test.csv", header + "x,1,>50K\n" + good + "y,2,,1\n")
    let d = try load(people(train: train, test: test, onBadRow: .skip))
    #expect(
      d.skipped.map(\.description) == [
        "\(train): skipped 1 bad row (1 × column `age`: not a number (`NaN`): row 5)",
        "\(test): skipped 2 bad rows (1 × expected 4 fields, got 3: row 2; 1 × column `inc`: empty label for task `income`: row 6)",
      ])
    #expect(d.train.count == 3 && d.test.count == 3)
    #expect(d.testRows == [0, 1, 2])
    expectAllFinite(d)
  }

  @Test func nothingLeftIsAnError() throws {
    let ragged = try fixture("x.csv", header + "a,1\nb,2\n")
    expectDataError(
      "\(ragged): error: no data rows left after skipping 2 bad rows (2 × expected 4 fields, got 2: rows 2, 3)"
    ) { _ = try load(people(train: ragged, onBadRow: .skip)) }
    let nan = try fixture("x.csv", header + "a,NaN,>50K,1\nb,1,>50K,\n")
    expectDataError(
      "\(nan): error: no data rows left after skipping 2 bad rows (1 × column `age`: not a number (`NaN`): row 2; 1 × column `score`: empty label for task `score`: row 3)"
    ) { _ = try load(people(train: nan, onBadRow: .skip)) }
    // Too few rows left to both train and test is the usual error.
    let one = try fixture("x.csv", header + "a,1,>50K,1\nb,NaN,>50K,1\n")
    var p = people(train: one, onBadRow: .skip)
    p.testFraction = 0.5
    expectDataError("\(one): error: no training rows to fit the feature pipeline on") { _ = try load(p) }
  }

  /// Prediction reads no labels: a file without label columns, or with bad labels, is fine.
  @Test func droppingWithoutLabels() throws {
    let path = try fixture("x.csv", "job,age\na,1\nb,NaN\nc,2\n")
    let t = try RawTable.read(path, onBadRow: .skip).droppingBadRows(
      for: people(train: path, onBadRow: .skip), labels: false)
    #expect(t.rowCount == 2 && t.skipped.count == 1)
    expectDataError("\(path):1: error: no column `inc` in the header (needed by the labels of task `income`)") {
      _ = try RawTable.read(path, onBadRow: .skip).droppingBadRows(for: people(train: path, onBadRow: .skip))
    }
  }
}

/// Problems with the whole file stay errors under `skip`: there is no row to drop.
@Suite struct DirtyFiles {
  @Test func fileLevelProblemsAreErrorsUnderBothPolicies() throws {
    let cases: [([UInt8], String)] = [
      ([], "FILE: error: the file is empty"),
      (Array("\n\r\n".utf8), "FILE: error: the file is empty"),
      (Array(header.utf8), "FILE: error: the file has a header but no data rows"),
      (
        Array("job,age,inc\na,1,>50K\n".utf8),
        "FILE:1: error: no column `score` in the header (needed by the labels of task `score`)"
      ),
      (Array("job,age,inc,age\na,1,>50K,1\n".utf8), "FILE:1: error: duplicate column name `age` (fields 2 and 4)"),
      (
        Array((header + good + "d,\"1,>50K,1\ne,2,>50K,1\n").utf8),
        "FILE:5: error: column `age`: unterminated quoted field: the quote opened on line 5 is never closed"
      ),
      (
        Array("job,".utf8) + [0xC0, 0xAF] + Array(",inc,score\na,1,>50K,1\n".utf8),
        "FILE:1: error: header field 2: invalid UTF-8 at byte 1 of the cell"
      ),
      (
        Array((header + "a,1e300,>50K,1\nb,-1e300,>50K,1\n").utf8),
        "FILE: error: column `age`: the values of dense feature `age` are too large for their mean and std to be computed"
      ),
    ]
    for (bytes, message) in cases {
      let path = try fixture("x.csv", bytes)
      var p = people(train: path, onBadRow: .skip)
      p.testFraction = 0
      for policy in BadRowPolicy.allCases {
        p.onBadRow = policy
        expectDataError(message.replacingOccurrences(of: "FILE", with: path)) { _ = try load(p) }
      }
    }
  }

  @Test func unseenCategoriesAtTestTimeAreRowZeroAndCounted() throws {
    let train = try fixture("train.csv", header + good)
    let test = try fixture("test.csv", header + "zzz,1,>50K,1\na,2,>50K,1\n?,3,>50K,1\nyyy,4,>50K,1\n")
    for policy in BadRowPolicy.allCases {
      let d = try load(people(train: train, test: test, onBadRow: policy))
      #expect(d.fitted.sparse[0].values == ["a", "b", "c"])
      #expect(d.test.sparse == [0, 1, 0, 0])
      #expect(d.test.unseenCounts == [2] && d.test.missingCounts == [1])
      #expect(d.skipped.isEmpty)
    }
  }

  @Test func byteOrderMarkAndMixedLineEnds() throws {
    let csv =
      [0xEF, 0xBB, 0xBF]
      + Array("age,job,score,inc\r\n30,a,1.5,>50K\n40,b,2,<=50K\r50,c,3,>50K\r\n\r\n60,d,4,>50K".utf8)
    let path = try fixture("x.csv", csv)
    for policy in BadRowPolicy.allCases {
      var p = people(train: path, onBadRow: policy)
      p.testFraction = 0
      let d = try load(p)
      #expect(d.skipped.isEmpty)
      // No `\r` is left on the last column (it would not be `>50K`), and the BOM is not part of
      // the first column's name (it would be missing).
      #expect(d.train.labels == [1, 1.5, 0, 2, 1, 3, 1, 4])
      #expect(d.fitted.dense[0].mean == 45)
    }
  }

  @Test func tenMegabyteCell() throws {
    let big = String(repeating: "x", count: 10 << 20)
    // In a sparse column it is just a value.
    let p = try fixture("x.csv", header + good + big + ",1,>50K,1\n")
    let d = try load(people(train: p, onBadRow: .error))
    #expect(d.train.count + d.test.count == 4)
    // In a dense column: a clear error, with the cell cut short.
    try expectBoth(
      Array((header + good + "d," + big + ",>50K,1\n").utf8),
      error: "FILE:5: error: column `age`: `\(String(repeating: "x", count: 40))...` is not a number",
      skipped:
        "FILE: skipped 1 bad row (1 × column `age`: not a number (`\(String(repeating: "x", count: 40))...`): row 5)",
      rows: 3)
  }

  @Test func tenMegabyteRaggedLine() throws {
    let line = String(repeating: "a,", count: 5 << 20) + "a\n"
    try expectBoth(
      Array((header + good + line + good).utf8),
      error: "FILE:5: error: expected 4 fields, got 5242881",
      skipped: "FILE: skipped 1 bad row (1 × expected 4 fields, got 5242881: row 5)", rows: 6)
  }

  /// Memory stays bounded: a record's fields past the header's count + 1 are counted, not kept.
  @Test func aRaggedLineKeepsAtMostOneFieldMoreThanTheHeader() throws {
    var bytes = Array((String(repeating: "a,", count: 5 << 20) + "a\n").utf8)
    try bytes.withUnsafeMutableBufferPointer { buf in
      var parser = CSVParser(buf: buf, path: "t.csv", delimiter: UInt8(ascii: ","), skip: true)
      var cells: [CellSpan] = []
      var flagged: [(field: Int, flag: UInt8)] = []
      let r = try #require(try parser.nextRecord(&cells, &flagged, keep: 5, lenient: true))
      #expect(r.start == 1 && r.fields == (5 << 20) + 1)
      #expect(cells.count == 5)
    }
  }
}

@Suite struct BadRowPolicyStorage {
  @Test func pipelineJSONHasTheKeyOnlyWhenSkipping() throws {
    let p = people(train: "t.csv", onBadRow: .error)
    let json = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
    #expect(!json.contains("onBadRow"))
    // Graph files written before the key existed read as `error`.
    #expect(try JSONDecoder().decode(Pipeline.self, from: Data(json.utf8)).onBadRow == .error)
    var q = p
    q.onBadRow = .skip
    let skipJSON = try JSONEncoder().encode(q)
    #expect(String(decoding: skipJSON, as: UTF8.self).contains("\"onBadRow\":\"skip\""))
    #expect(try JSONDecoder().decode(Pipeline.self, from: skipJSON) == q)
    #expect(DataCache.key(pipeline: p, train: [1], test: nil) != DataCache.key(pipeline: q, train: [1], test: nil))
  }

  @Test func theReportSurvivesTheCacheUnderTheCurrentPath() throws {
    let cache = DataCache(directory: try temporaryFolder() + "/cache")
    let csv = header + good + "d,NaN,>50K,1\ne,1,>50K\n"
    let path = try fixture("x.csv", csv)
    let first = try LoadedData.loadReporting(people(train: path, onBadRow: .skip), cache: cache)
    #expect(first.cache.stored)
    let second = try LoadedData.loadReporting(people(train: path, onBadRow: .skip), cache: cache)
    #expect(second.cache.hit && second.data == first.data)
    let moved = try fixture("y.csv", csv)
    let third = try LoadedData.loadReporting(people(train: moved, onBadRow: .skip), cache: cache)
    #expect(third.cache.hit)
    #expect(
      third.data.skipped.map(\.description) == [
        "\(moved): skipped 2 bad rows (1 × expected 4 fields, got 3: row 6; 1 × column `age`: not a number (`NaN`): row 5)"
      ])
    // The error policy is another key, and still fails.
    expectDataError("\(path):6: error: expected 4 fields, got 3") {
      _ = try LoadedData.load(people(train: path, onBadRow: .error), cache: cache)
    }
  }
}
