// Training from shards on disk is training from memory: the same batches, so the same bits, and
// an interrupted epoch resumes exactly from either.

import MTLData
import MTLGraph
import MTLSupport
import MTLTrain
import Testing

@Suite struct StreamingRunTests {
  /// MMOE on adult with blocks of 2048 examples and a window of 5000: several shards, windows
  /// across block boundaries, a validation fraction.
  func graph() throws -> Graph {
    var g = try Repo.graph("mmoe", batch: 256, epochs: 2)
    g.pipeline.shardRows = 2048
    g.pipeline.shuffleWindow = 5000
    g.pipeline.validationFraction = 0.1
    return g
  }

  func load(_ g: Graph, streaming: Bool) throws -> DataSets {
    var p = g.pipeline
    p.streaming = streaming
    return try DataSets.load(p, cache: nil, chunkBytes: 1 << 20)
  }

  @Test func shardsAndMemoryTrainTheSameBits() throws {
    let g = try graph()
    let memory = try load(g, streaming: false)
    let shards = try load(g, streaming: true)
    guard case .shards = shards.source, case .memory = memory.source else {
      Issue.record("sources: \(memory.source), \(shards.source)")
      return
    }
    var params: [[[Float]]] = []
    var histories: [[EpochReport]] = []
    var aucs: [[Double?]] = []
    for d in [memory, shards] {
      let s = Session(graph: g, fitted: d.fitted, seed: 3, threads: 2)
      try s.train(d.train, epochs: 2, validation: d.validation)
      params.append(s.executor.parameterArrays())
      histories.append(s.history)
      aucs.append(s.evaluate(d.test).map(\.auc))
    }
    #expect(params[0] == params[1])
    #expect(aucs[0] == aucs[1] && aucs[0].allSatisfy { $0 != nil })
    #expect(histories[0].map(\.loss) == histories[1].map(\.loss))
    #expect(histories[0].map(\.validationLoss) == histories[1].map(\.validationLoss))
  }

  @Test func anEpochInterruptedOnShardsResumesExactly() throws {
    let g = try graph()
    let d = try load(g, streaming: true)
    let full = Session(graph: g, fitted: d.fitted, seed: 4)
    try full.train(d.train, epochs: 2)

    let first = Session(graph: g, fitted: d.fitted, seed: 4)
    let stop = StopFlag()
    first.stop = stop
    do {
      // Batch 30 of epoch 2 is past the first window (5000 examples = 19.5 batches).
      try first.train(
        d.train, epochs: 2, onBatch: { b, _, _ in if first.epochsDone == 1 && b == 30 { stop.request() } })
      Issue.record("not interrupted")
    } catch is Interrupted {}
    let c = try Checkpoint.decode(first.checkpoint().encode(), path: "mem")
    #expect(c.epoch == 1 && c.batchesDone == 30)
    let second = Session(graph: g, fitted: d.fitted, seed: 4)
    try second.restore(c)
    try second.train(d.train, epochs: 2)
    #expect(second.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(second.history.last?.loss == full.history.last?.loss)
  }
}
