// Learning-rate schedules and AdamW (issue 11, item 4): the documented rates, and AdamW's step
// against a hand computation.
import Foundation
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLTrain
import Testing

struct ScheduleTests {
  func training(_ s: LearningRateSchedule?) -> Training {
    var t = Training(optimizer: .adam, learningRate: 0.01, batchSize: 8, epochs: 1, seed: 1)
    t.schedule = s
    return t
  }

  @Test("schedules give the documented rates")
  func rates() {
    // No schedule: the rate itself, on every step.
    #expect((1...5).map { Optimizer.rate(training(nil), step: $0) } == [0.01, 0.01, 0.01, 0.01, 0.01])
    // Linear warm-up over 4 steps, then nothing: 1/4, 2/4, 3/4, 1, 1.
    let warm = training(LearningRateSchedule(warmupSteps: 4, decay: .none, decaySteps: 1, decayRate: 1, minRate: 0))
    #expect((1...6).map { Optimizer.rate(warm, step: $0) } == [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])
    // Cosine over 10 steps to a floor of 0.1 after 2 warm-up steps; the decay counts k from 0 at
    // step 3: k = 5 (step 8) is halfway, 0.55; from k = 10 (step 13) on, the floor.
    let cos = training(LearningRateSchedule(warmupSteps: 2, decay: .cosine, decaySteps: 10, decayRate: 1, minRate: 0.1))
    #expect(abs(Optimizer.rate(cos, step: 1) - 0.005) < 1e-9)
    #expect(abs(Optimizer.rate(cos, step: 2) - 0.01) < 1e-9)
    #expect(abs(Optimizer.rate(cos, step: 3) - 0.01) < 1e-9)
    #expect(abs(Optimizer.rate(cos, step: 8) - 0.0055) < 1e-9)
    #expect(abs(Optimizer.rate(cos, step: 13) - 0.001) < 1e-9)
    #expect(abs(Optimizer.rate(cos, step: 500) - 0.001) < 1e-9)
    // Step decay: halve every 3 steps.
    let step = training(LearningRateSchedule(warmupSteps: 0, decay: .step, decaySteps: 3, decayRate: 0.5, minRate: 0))
    #expect((1...7).map { Optimizer.rate(step, step: $0) } == [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025])
    // Exponential: 0.5^(k/2), k = s − 1.
    let exp = training(
      LearningRateSchedule(warmupSteps: 0, decay: .exponential, decaySteps: 2, decayRate: 0.5, minRate: 0))
    #expect(Optimizer.rate(exp, step: 1) == 0.01)
    #expect(abs(Optimizer.rate(exp, step: 3) - Float(0.01 * 0.5)) < 1e-9)
    #expect(abs(Optimizer.rate(exp, step: 2) - Float(0.01 * pow(0.5, 0.5))) < 1e-9)
  }

  @Test("AdamW shrinks the weight matrices by lr·wd·w before Adam's step, and nothing else")
  func adamw() throws {
    var g = try Repo.graph("mmoe", batch: 32)
    g.training.optimizer = .adamw
    g.training.weightDecay = 0.1
    g.training.learningRate = 0.01
    let data = try Repo.data(g)
    var plain = g
    plain.training.optimizer = .adam
    plain.training.weightDecay = nil
    func oneStep(_ graph: Graph) -> [[Float]] {
      let s = Session(graph: graph, fitted: data.fitted, seed: 3, threads: 1)
      let picked = Array(0..<32)
      s.executor.setBatch(rows: 32) { first, count, sparse, dense, labels in
        data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
      }
      s.executor.step()
      return s.executor.parameterArrays()
    }
    let start = Session(graph: g, fitted: data.fitted, seed: 3, threads: 1).executor.parameterArrays()
    let w = oneStep(g)
    let a = oneStep(plain)
    for (i, p) in g.params.enumerated() {
      if p.kind == .weight {
        // AdamW = Adam applied to the decayed weight: the difference is exactly lr·wd·w0 (to rounding).
        let expected = zip(a[i], start[i]).map { $0 - 0.01 * 0.1 * $1 }
        let worst = zip(w[i], expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-6, "\(p.name): \(worst)")
        #expect(w[i] != a[i])
      } else {
        #expect(w[i] == a[i], "\(p.name) is not decayed")
      }
    }
  }

  @Test("a run with a schedule records every step's rate in its history")
  func recordedRates() throws {
    var g = try Repo.graph("mmoe", batch: 256)
    g.training.schedule = LearningRateSchedule(warmupSteps: 5, decay: .cosine, decaySteps: 20, decayRate: 1, minRate: 0)
    let data = try Repo.data(g)
    let small = slice(data.train, 2560)  // 10 steps an epoch
    let s = Session(graph: g, fitted: data.fitted, seed: 3)
    try s.train(small, epochs: 3)
    let rates = s.history.flatMap { $0.learningRate! }
    #expect(rates.count == 30)
    #expect(rates == (1...30).map { Optimizer.rate(g.training, step: $0) })
    #expect(abs(rates[0] - 0.0002) < 1e-10 && rates[4] == 0.001 && rates[5] == 0.001 && rates.last! == 0)
  }
}
