// Multi-valued sparse features (`multi`) and shared tables (`table`): vocabularies fitted value by
// value and across the columns that share a table; bags encoded as their first maxLength values,
// unseen ones -1, padded with -1, the values past maxLength counted; the cache's index check.

import Foundation
import MTLData
import MTLGraph
import Testing

@Suite struct MultiValueTests {
  static func bag(_ column: String, maxLength: Int, table: String? = nil, _ v: Vocabulary = .learned(minCount: 1))
    -> SparseFeature
  {
    var f = sparse(column, v)
    f.multi = MultiValue(separator: "|", maxLength: maxLength, pooling: .mean)
    f.table = table
    return f
  }

  // Rows: a bag with a repeat, an empty cell, a missing marker among values, a long bag, empty
  // pieces, a value seen only in the held-out row.
  let csv = "item,seen,y\nb,a|b|a,1\nc,,1\na,?|c,1\nd,a|b|c|d|a,1\na,||b|,1\na,zz|a,1\n"

  @Test func bagsAreFittedValueByValueAndEncodedPadded() throws {
    let t = try table(csv)
    let p = pipeline(sparse: [Self.bag("seen", maxLength: 3)])
    #expect(p.idColumns == 3)
    let f = try FittedPipeline.fit(p, table: t, rows: Array(0..<5))
    #expect(f.sparse[0].values == ["a", "b", "c", "d"])
    let d = try f.encode(table: t, rows: Array(0..<6))
    #expect(d.sparseWidth == 3)
    #expect(
      d.sparse == [
        1, 2, 1,  // a|b|a
        -1, -1, -1,  // empty: an empty bag
        3, -1, -1,  // ?|c: the missing marker skipped
        1, 2, 3,  // a|b|c|d|a: the first three; d and a left out
        2, -1, -1,  // ||b|: empty pieces skipped
        -1, 1, -1,  // zz|a: zz unseen holds its place, left out of the pooling
      ])
    #expect(d.truncatedCounts == [2])
    #expect(d.unseenCounts == [1])
    #expect(d.missingCounts == [1])
    #expect(d.indexProblem(f) == nil)
    // A damaged cache entry: an id past the table.
    var bad = d
    bad.sparse[0] = 9
    #expect(bad.indexProblem(f) != nil)
  }

  @Test func aSharedTableHasOneVocabularyFittedOnBothColumns() throws {
    let t = try table(csv)
    let p = pipeline(sparse: [sparse("item"), Self.bag("seen", maxLength: 2, table: "item")])
    #expect(p.idColumns == 1 + 2)
    #expect(p.idOffsets == [0, 1])
    let f = try FittedPipeline.fit(p, table: t, rows: Array(0..<5))
    // item has b, c, a, d; seen adds nothing new: one vocabulary, the same for both.
    #expect(f.sparse[0].values == ["a", "b", "c", "d"])
    #expect(f.sparse[1].values == f.sparse[0].values)
    #expect(f.check() == nil)
    let d = try f.encode(table: t, rows: [0, 3])
    #expect(d.sparse == [2, 1, 2, 4, 1, 2])
    // A fitted pipeline whose shared vocabularies differ is refused (a hostile checkpoint).
    var broken = f
    broken.sparse[1].values = ["a"]
    broken.sparse[1].tableRows = 2
    #expect(broken.check() != nil)
  }

  @Test func aSingleValuedColumnSharingAMultiValuedOnesTableCountsWholeCells() throws {
    let t = try table("a,b,y\nx,x|y,1\nz,,1\n")
    let p = pipeline(
      sparse: [Self.bag("b", maxLength: 2), sparse("a")].enumerated().map { i, f in
        var f = f
        if i == 1 { f.table = "b" }
        return f
      })
    let f = try FittedPipeline.fit(p, table: t, rows: [0, 1])
    #expect(f.sparse[0].values == ["x", "y", "z"])
  }
}
