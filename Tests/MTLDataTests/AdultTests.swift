// The reference data set: UCI adult, with the pipeline of the reference example.

import MTLData
import MTLGraph
import Testing

/// data/adult.csv in this clone, found from this source file's path.
let adultPath: String = {
  var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
  parts.removeLast(3)  // AdultTests.swift, MTLDataTests, Tests
  return parts.joined(separator: "/") + "/data/adult.csv"
}()

func adultPipeline(testFraction: Double = 0.2) -> Pipeline {
  let sparseColumns = [
    "workclass", "education", "occupation", "relationship", "race", "sex", "native-country",
  ]
  let denseColumns = [
    "age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week",
  ]
  return Pipeline(
    train: adultPath, test: nil, testFraction: testFraction, splitSeed: 17,
    sparse: sparseColumns.map {
      SparseFeature(
        name: $0, column: $0, vocabulary: .learned(minCount: 1), missing: ["?"], embeddingDim: 4)
    },
    dense: denseColumns.map {
      DenseFeature(name: $0, column: $0, normalize: .minmax, missing: ["?"])
    },
    labels: [
      LabelColumn(task: "income", column: "income-per-year", rule: .positive([">50K"])),
      LabelColumn(task: "marital", column: "marital-status", rule: .positive(["Never-married"])),
    ])
}

@Suite struct Adult {
  @Test func tableShape() throws {
    let t = try RawTable.read(adultPath)
    #expect(t.rowCount == 32561)
    #expect(t.columnCount == 15)
    #expect(t.header.first == "age" && t.header.last == "income-per-year")
    #expect(t.line(ofRow: 32560) == 32562)
  }

  @Test func fittedOnAllRows() throws {
    let t = try RawTable.read(adultPath)
    let rows = Array(0..<t.rowCount)
    let f = try FittedPipeline.fit(adultPipeline(), table: t, rows: rows)
    // Distinct non-"?" values + 1 (checked with Python's csv module).
    #expect(
      f.vocabularySizes == [
        "workclass": 9, "education": 17, "occupation": 15, "relationship": 7, "race": 6, "sex": 3,
        "native-country": 42,
      ])
    #expect(f.sparse[5].values == ["Female", "Male"])
    #expect(f.dense[0].min == 17 && f.dense[0].max == 90)

    let d = try f.encode(table: t, rows: rows)
    #expect(d.count == 32561)
    #expect(
      d.sparse.count == 32561 * 7 && d.dense.count == 32561 * 6 && d.labels.count == 32561 * 2)
    #expect(d.dense.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
    let income = stride(from: 0, to: d.labels.count, by: 2).filter { d.labels[$0] == 1 }.count
    let marital = stride(from: 1, to: d.labels.count, by: 2).filter { d.labels[$0] == 1 }.count
    #expect(income == 7841)  // 24.1%
    #expect(marital == 10683)  // 32.8%
    // "?" cells: workclass 1836, occupation 1843, native-country 583; nothing unseen.
    #expect(d.missingCounts == [1836, 0, 1843, 0, 0, 0, 583])
    #expect(d.unseenCounts == [0, 0, 0, 0, 0, 0, 0])
    // First row: 39,State-gov,...,Male,...,United-States,<=50K and Never-married.
    #expect(d.sparse[0] == Int32(f.sparse[0].values.firstIndex(of: "State-gov")! + 1))
    #expect(d.sparse[6] == Int32(f.sparse[6].values.firstIndex(of: "United-States")! + 1))
    #expect(d.dense[0] == Float((39.0 - 17) / (90 - 17)))
    #expect(Array(d.labels[0..<2]) == [0, 1])
  }

  @Test func loadedWithHoldout() throws {
    let l = try LoadedData.load(adultPipeline(), cache: nil)
    // Each row's set by the seeded hash: 6410 of 32561 (19.7%) test under the spec's split seed.
    #expect(l.train.count == 26151 && l.test.count == 6410)
    #expect(Set(l.trainRows).isDisjoint(with: l.testRows))
    #expect(l.fitted.trainRowCount == 26151)
    #expect(l.train.dense.allSatisfy(\.isFinite) && l.test.dense.allSatisfy(\.isFinite))
  }
}
