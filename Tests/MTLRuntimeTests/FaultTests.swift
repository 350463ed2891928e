import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

/// Numerical trouble and interruptions, in process (the binary's signal handling is tested end to
/// end in EndToEndTests).
@Suite(.serialized)
struct FaultTests {
  @Test("a NaN weight stops training with the step, the task and the block where it appeared")
  func divergenceIsLocated() throws {
    let g = try Repo.graph("mmoe", batch: 64)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 1)
    let gate = try #require(s.graph.params.firstIndex { $0.name == "gates.marital.logits.w" })
    s.executor.params[gate][3] = .nan
    let before = s.executor.parameterArrays()
    do {
      try s.train(slice(data.train, 512), epochs: 1)
      Issue.record("training a NaN weight did not fail")
    } catch let e as NumericalError {
      #expect(e.epoch == 1 && e.step == 1)
      #expect(e.what.hasPrefix("the loss of task `marital` is"))
      #expect(e.block == "gates.marital")
      #expect(e.location?.hasSuffix("specs/mmoe.yaml:22:3") == true)
      #expect(e.description.contains("help: lower the learning rate"))
    }
    // The failed step changed nothing.
    let after = s.executor.parameterArrays()
    for (a, b) in zip(before, after) { #expect(a.elementsEqual(b) { $0 == $1 || ($0.isNaN && $1.isNaN) }) }
  }

  @Test("an interrupt between steps, resumed from its checkpoint, ends where an uninterrupted run ends")
  func interruptMidEpoch() throws {
    let g = try Repo.graph("esmm", batch: 100)
    let data = try Repo.data(g)
    let small = slice(data.train, 1000)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-int-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }

    let full = Session(graph: g, fitted: data.fitted, seed: 4)
    try full.train(small, epochs: 3)

    let first = Session(graph: g, fitted: data.fitted, seed: 4)
    // A flag of this test's own: the process's flag is left alone for every other suite.
    let stop = StopFlag()
    first.stop = stop
    do {
      try first.train(small, epochs: 3, onBatch: { b, _, _ in if first.epochsDone == 1 && b == 4 { stop.request() } })
      Issue.record("not interrupted")
    } catch let e as Interrupted {
      #expect(e.epoch == 2 && e.batch == 4)
      try first.checkpoint().write(toDirectory: dir)
    }
    let c = try Checkpoint.read(fromDirectory: dir)
    #expect(c.epoch == 1 && c.batchesDone == 4)
    let second = Session(graph: g, fitted: data.fitted, seed: 4)
    try second.restore(c)
    try second.train(small, epochs: 3)
    #expect(second.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(second.history.map(\.loss) == full.history.map(\.loss))
  }
}
