// Holdout splits, epoch orders, batches and the one-call loader.

import MTLData
import MTLGraph
import Testing

@Suite struct Splits {
  @Test func holdoutIsDeterministicDisjointAndCovering() {
    let a = DataSplit.holdout(count: 1000, testFraction: 0.2, seed: 7)
    let b = DataSplit.holdout(count: 1000, testFraction: 0.2, seed: 7)
    #expect(a.train == b.train && a.test == b.test)
    #expect(a.test.count == 200 && a.train.count == 800)
    #expect(Set(a.train).isDisjoint(with: a.test))
    #expect((a.train + a.test).sorted() == Array(0..<1000))
    #expect(a.train == a.train.sorted() && a.test == a.test.sorted())
    let c = DataSplit.holdout(count: 1000, testFraction: 0.2, seed: 8)
    #expect(c.test != a.test)
    // Pinned, so that a change to the RNG or the shuffle (which would change every saved run's
    // test set) is noticed.
    #expect(
      DataSplit.holdout(count: 10, testFraction: 0.3, seed: 7) == (
        [0, 2, 4, 5, 6, 7, 9], [1, 3, 8]
      ))
  }

  @Test func holdoutRoundsTheTestCount() {
    #expect(DataSplit.holdout(count: 32561, testFraction: 0.2, seed: 1).test.count == 6512)
    // 2.5 rounds up.
    #expect(DataSplit.holdout(count: 5, testFraction: 0.5, seed: 1).test.count == 3)
    #expect(DataSplit.holdout(count: 5, testFraction: 0, seed: 1).test.isEmpty)
    let empty = DataSplit.holdout(count: 0, testFraction: 0.2, seed: 1)
    #expect(empty.train.isEmpty && empty.test.isEmpty)
  }

  @Test func epochOrdersDifferPerEpochAndReplay() {
    let e0 = EpochOrder.permutation(count: 500, seed: 3, epoch: 0)
    let e1 = EpochOrder.permutation(count: 500, seed: 3, epoch: 1)
    #expect(e0.sorted() == Array(0..<500) && e1.sorted() == Array(0..<500))
    #expect(e0 != e1)
    #expect(e0 != Array(0..<500))
    #expect(EpochOrder.permutation(count: 500, seed: 3, epoch: 1) == e1)
    #expect(EpochOrder.permutation(count: 500, seed: 4, epoch: 1) != e1)
    #expect(EpochOrder.permutation(count: 8, seed: 3, epoch: 0) == [3, 1, 5, 7, 4, 6, 0, 2])
    #expect(EpochOrder.permutation(count: 8, seed: 3, epoch: 1) == [4, 7, 3, 0, 2, 1, 6, 5])
  }
}

@Suite struct Batches {
  @Test func gatherCopiesTheChosenExamples() throws {
    let t = try table("a,x,y\np,1,yes\nq,2,no\nr,3,yes\n")
    let p = pipeline(
      sparse: [sparse("a")], dense: [dense("x")],
      labels: [LabelColumn(task: "y", column: "y", rule: .positive(["yes"]))])
    let f = try FittedPipeline.fit(p, table: t, rows: [0, 1, 2])
    let d = try f.encode(table: t, rows: [0, 1, 2])
    var s = [Int32](repeating: -1, count: 2)
    var x = [Float](repeating: -1, count: 2)
    var y = [Float](repeating: -1, count: 2)
    let order = [0, 2, 1]
    d.gather(indices: order[1...], into: &s, dense: &x, labels: &y)
    #expect(s == [3, 2])
    #expect(x == [3, 2])
    #expect(y == [1, 0])
  }
}

@Suite struct Loading {
  @Test func separateTestFile() throws {
    let train = try fixture("train.csv", "a,x,y\np,1,yes\nq,2,no\nr,3,yes\n")
    let test = try fixture("test.csv", "y,x,a\nno,5,q\nyes,0,z\n")  // other column order
    let p = pipeline(
      sparse: [sparse("a")], dense: [dense("x", .minmax)],
      labels: [LabelColumn(task: "y", column: "y", rule: .positive(["yes"]))], train: train,
      test: test)
    let l = try LoadedData.load(p, cache: nil)
    #expect(l.trainRows == [0, 1, 2] && l.testRows == [0, 1])
    #expect(l.test.sparse == [2, 0])
    #expect(l.test.dense == [2, -0.5])
    #expect(l.test.labels == [0, 1])
    #expect(l.test.unseenCounts == [1])
  }

  @Test func holdoutWhenNoTestFile() throws {
    let rows = (0..<20).map { "v\($0 % 3),\($0),\($0 % 2 == 0 ? "yes" : "no")" }
    let train = try fixture("train.csv", "a,x,y\n" + rows.joined(separator: "\n"))
    let p = pipeline(
      sparse: [sparse("a")], dense: [dense("x")],
      labels: [LabelColumn(task: "y", column: "y", rule: .positive(["yes"]))],
      train: "unused.csv", testFraction: 0.25)
    let l = try LoadedData.load(p, trainPath: train, cache: nil)
    let split = DataSplit.holdout(count: 20, testFraction: 0.25, seed: 42)
    #expect(l.trainRows == split.train && l.testRows == split.test)
    #expect(l.train.count == 15 && l.test.count == 5)
    #expect(l.test.dense == l.testRows.map(Float.init))
    #expect(l.fitted.trainRowCount == 15)
  }

  @Test func testFileMissingAColumn() throws {
    let train = try fixture("train.csv", "a,x,y\np,1,yes\n")
    let test = try fixture("test.csv", "a,X,y\np,1,yes\n")
    let p = pipeline(
      sparse: [sparse("a")], dense: [dense("x")],
      labels: [LabelColumn(task: "y", column: "y", rule: .positive(["yes"]))],
      train: train)
    expectDataError(
      "\(test):1: error: no column `x` in the header (needed by dense feature `x`); similar names: `X`"
    ) {
      _ = try LoadedData.load(p, testPath: test, cache: nil)
    }
  }
}
