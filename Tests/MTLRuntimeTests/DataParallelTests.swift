// N ranks of T threads train as one process of N·T threads, bit for bit: the arithmetic of the
// data-parallel run (Communicator.swift) checked with ranks as threads of this process. The same
// code runs under mpirun with Open MPI (EndToEndTests/MPITests).

import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLTrain
import Testing

@Suite struct DataParallelTests {
  /// Trains `g` one epoch on `data` as `ranks` ranks of `threads` threads (ranks as threads),
  /// and returns each rank's parameters, epoch losses and test predictions.
  func distributed(_ g: Graph, _ data: LoadedData, ranks: Int, threads: Int) throws -> [(
    [[Float]], [Double], [[Float]]
  )] {
    let group = ThreadGroup(size: ranks)
    let results = Results(count: ranks)
    let done = DispatchGroup()
    for r in 0..<ranks {
      done.enter()
      Thread {
        defer { done.leave() }
        let s = Session(graph: g, fitted: data.fitted, seed: 5, threads: threads, communicator: group.member(r))
        do {
          try s.train(data.train, epochs: 1, validation: data.validation)
          results.set(r, (s.executor.parameterArrays(), s.history.map(\.loss), s.predict(data.test)))
        } catch {
          results.fail("\(error)")
        }
      }.start()
    }
    done.wait()
    if let e = results.error { throw TestFailure(e) }
    return results.values.map { $0! }
  }

  final class Results: @unchecked Sendable {
    let lock = NSLock()
    var values: [([[Float]], [Double], [[Float]])?]
    var error: String?
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ r: Int, _ v: ([[Float]], [Double], [[Float]])) {
      lock.lock()
      values[r] = v
      lock.unlock()
    }
    func fail(_ e: String) {
      lock.lock()
      error = e
      lock.unlock()
    }
  }

  static let models: [(String, [String])] = [
    ("mmoe", []),
    ("esmm", []),
    // Batch normalisation (sums across every worker), dropout (masks by global row), L2 on
    // embeddings (the rows every worker looked up), a validation set.
    (
      "mmoe",
      [
        "experts.shared.batch_norm=true", "towers.income.dropout=0.2",
        "training.l2={embeddings: 1.0e-5, weights: 1.0e-5}",
      ]
    ),
  ]

  @Test(
    "N ranks x T threads give the parameters, losses and predictions of one process with N*T threads",
    arguments: [(2, 1), (2, 2), (4, 1)])
  func ranksAreOneProcess(ranks: Int, threads: Int) throws {
    for (name, overrides) in Self.models {
      var g = try ModelGradientTests.compiled("specs/\(name).yaml", overrides)
      g.training.batchSize = 256
      var full = try Repo.data(g)
      full.train = slice(full.train, 3000)
      full.test = slice(full.test, 700)
      if !overrides.isEmpty { full.validation = slice(full.test, 300) }
      let one = Session(graph: g, fitted: full.fitted, seed: 5, threads: ranks * threads)
      try one.train(full.train, epochs: 1, validation: full.validation)
      let expected = (one.executor.parameterArrays(), one.history.map(\.loss), one.predict(full.test))
      for (r, got) in try distributed(g, full, ranks: ranks, threads: threads).enumerated() {
        #expect(got.0 == expected.0, "\(name) \(overrides): rank \(r)'s parameters")
        #expect(got.1 == expected.1, "\(name) \(overrides): rank \(r)'s losses")
        #expect(got.2 == expected.2, "\(name) \(overrides): rank \(r)'s predictions")
      }
    }
  }
}
