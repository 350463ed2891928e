// Holdout splits, epoch orders, batches and the one-call loader.

import MTLData
import MTLGraph
import Testing

@Suite struct Splits {
  @Test func holdoutIsDeterministicDisjointAndCovering() {
    let a = DataSplit.holdout(count: 1000, testFraction: 0.2, seed: 7)
    let b = DataSplit.holdout(count: 1000, testFraction: 0.2, seed: 7)
    #expect(a.train == b.train && a.test == b.test)
    // Binomial(1000, 0.2): within 4 standard deviations (12.6).
    #expect(abs(a.test.count - 200) < 51)
    #expect(Set(a.train).isDisjoint(with: a.test))
    #expect((a.train + a.test).sorted() == Array(0..<1000))
    #expect(a.train == a.train.sorted() && a.test == a.test.sorted())
    let c = DataSplit.holdout(count: 1000, testFraction: 0.2, seed: 8)
    #expect(c.test != a.test)
    // Pinned, so that a change to the hash (which would change every saved run's test set) is
    // noticed.
    #expect(
      (0..<12).map { DataSplit.part(row: $0, seed: 7, testFraction: 0.3, validationFraction: 0.2) } == [
        .test, .train, .validation, .train, .validation, .train, .validation, .train, .train, .train, .train, .train,
      ])
  }

  @Test func aRowsSetDependsOnItsIndexAlone() {
    // The same row decides the same way in any file length: the split streams.
    let short = DataSplit.holdout(count: 100, testFraction: 0.25, seed: 3)
    let long = DataSplit.holdout(count: 10_000, testFraction: 0.25, seed: 3)
    #expect(long.test.prefix { $0 < 100 } == short.test[...])
    // The validation share comes out of the rows the test share leaves.
    var counts: [DataPart: Int] = [:]
    for r in 0..<100_000 {
      counts[DataSplit.part(row: r, seed: 1, testFraction: 0.2, validationFraction: 0.1), default: 0] += 1
    }
    #expect(abs(counts[.test]! - 20_000) < 600 && abs(counts[.validation]! - 10_000) < 450)
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
    // One block and one window: Fisher–Yates over all rows, pinned (the order of every run on
    // data under the block size; unchanged since the first release).
    #expect(EpochOrder.permutation(count: 8, seed: 3, epoch: 0) == [3, 1, 5, 7, 4, 6, 0, 2])
    #expect(EpochOrder.permutation(count: 8, seed: 3, epoch: 1) == [4, 7, 3, 0, 2, 1, 6, 5])
  }

  @Test func windowedOrderIsAPermutationThatStaysInFewBlocks() {
    let n = 10_000
    let (blockRows, window) = (512, 1200)
    let o = EpochOrder.permutation(count: n, seed: 5, epoch: 2, blockRows: blockRows, window: window)
    #expect(o.sorted() == Array(0..<n))
    #expect(o == EpochOrder.permutation(count: n, seed: 5, epoch: 2, blockRows: blockRows, window: window))
    #expect(o != EpochOrder.permutation(count: n, seed: 5, epoch: 3, blockRows: blockRows, window: window))
    // Each window's examples come from at most ⌈window / blockRows⌉ + 1 blocks.
    var lo = 0
    while lo < n {
      let blocks = Set(o[lo..<min(lo + window, n)].map { $0 / blockRows })
      #expect(blocks.count <= (window + blockRows - 1) / blockRows + 1)
      lo += window
    }
    // The blocks are visited in a shuffled order, not file order: the order in which they first
    // appear is not 0, 1, 2, ...
    var firstSeen: [Int] = []
    for b in o.map({ $0 / blockRows }) where !firstSeen.contains(b) { firstSeen.append(b) }
    #expect(firstSeen.count == (n + blockRows - 1) / blockRows && firstSeen != firstSeen.sorted())
  }

  @Test func batchCursorResumesWhereTheOrderWas() {
    let order = EpochOrder(count: 1000, seed: 9, epoch: 1, blockRows: 128, window: 300)
    let whole = EpochOrder.permutation(count: 1000, seed: 9, epoch: 1, blockRows: 128, window: 300)
    var a = BatchCursor(order)
    var batch: [Int] = []
    var seen: [Int] = []
    repeat {
      a.next(64, into: &batch)
      seen += batch
    } while !batch.isEmpty
    #expect(seen == whole)
    // Skipping 7 batches lands on the 8th, across window boundaries.
    var b = BatchCursor(order)
    b.skip(7 * 64)
    b.next(64, into: &batch)
    #expect(batch == Array(whole[(7 * 64)..<(8 * 64)]))
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
    #expect(l.train.count + l.test.count == 20 && l.test.count == split.test.count)
    #expect(l.test.dense == l.testRows.map(Float.init))
    #expect(l.fitted.trainRowCount == split.train.count)
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
