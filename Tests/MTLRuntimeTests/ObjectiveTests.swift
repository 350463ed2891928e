// The general training objective (issue 10): per-task sample spaces and masked labels, multiclass
// tasks, standardised regression labels. Each checked against an independent computation on the
// same batch, plus determinism and exact resume with learned loss weights.
import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

struct ObjectiveTests {
  /// Loads rows `picked` of `data` as the executor's batch.
  func load(_ ex: Executor, _ data: Dataset, _ picked: [Int]) {
    ex.setBatch(rows: picked.count) { first, count, sparse, dense, labels in
      data.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
    }
  }

  func softplus(_ t: Double) -> Double { max(t, 0) + log1p(exp(-abs(t))) }

  @Test("a masked loss is the mean over the batch's rows in the task's space, on 1 and 2 threads", arguments: [1, 2])
  func inSpaceMean(threads: Int) throws {
    let g = try Repo.graph("bench/specs/masked_esmm", batch: 64)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 3, threads: threads)
    let ex = s.executor
    let picked = Array(200..<264)
    load(ex, data.train, picked)
    ex.forward()
    ex.computeLosses(gradients: false)
    let L = data.train.labelWidth
    for (i, loss) in ex.graph.losses.enumerated() {
      let task = ex.graph.tasks.first { $0.name == loss.task }!
      let x = ex.valueArray(loss.input)
      let K = ex.graph.values[loss.input].rowWidth
      var sum = 0.0
      var n = 0
      for (b, row) in picked.enumerated() {
        let y = data.train.labels[row * L + loss.label]
        guard !y.isNaN else { continue }
        n += 1
        switch loss.kind {
        case .bceLogits: sum += Double(y) * softplus(-Double(x[b])) + (1 - Double(y)) * softplus(Double(x[b]))
        case .bceProb:
          let p = min(max(Double(x[b]), Double(Float(1e-7))), Double(Float(1) - Float(1e-7)))
          sum -= Double(y) * log(p) + (1 - Double(y)) * log(1 - p)
        case .softmaxCrossEntropy:
          let z = (0..<K).map { Double(x[b * K + $0]) }
          let m = z.max()!
          sum += m + log(z.map { exp($0 - m) }.reduce(0, +)) - z[Int(y)]
        case .mse: sum += pow(Double(x[b]) - Double(y), 2)
        }
      }
      // Every task of this spec has rows in and out of its space in these rows, except ctr and ctcvr.
      if task.name == "cvr" || task.name == "occupation" { #expect(n > 0 && n < picked.count, "\(task.name): \(n)") }
      #expect(ex.inSpace[i] == n || !g.pipeline.labels[loss.label].maskable)
      #expect(abs(ex.lossValues[i] - sum / Double(n)) < 1e-6, "\(task.name): \(ex.lossValues[i]) vs \(sum / Double(n))")
    }
  }

  @Test("a batch with no row in a task's space contributes 0 to its loss, and the step stays finite")
  func emptySpace() throws {
    let g = try Repo.graph("bench/specs/masked_esmm", batch: 32)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 3, threads: 2)
    let ex = s.executor
    let L = data.train.labelWidth
    let ctr = g.tasks.first { $0.name == "ctr" }!.label!
    // 32 rows with income <= 50K: outside cvr's space.
    let picked = Array((0..<data.train.count).filter { data.train.labels[$0 * L + ctr] == 0 }.prefix(32))
    #expect(picked.count == 32)
    load(ex, data.train, picked)
    let cvr = g.losses.firstIndex { $0.task == "cvr" }!
    let before = ex.parameterArrays()
    let loss = ex.step()
    #expect(loss.isFinite)
    #expect(ex.inSpace[cvr] == 0)
    #expect(ex.lossValues[cvr] == 0)
    #expect(ex.nonFiniteGradient == nil && !ex.nonFiniteBalancer)
    // cvr's own tower is reached by ctcvr, so it still moves; nothing became NaN.
    let after = ex.parameterArrays()
    #expect(after != before)
    #expect(after.allSatisfy { $0.allSatisfy { $0.isFinite } })
  }

  @Test("metrics are over the rows each task is scored on; the multiclass supports add up")
  func scoredRows() throws {
    let g = try Repo.graph("bench/specs/masked_esmm", batch: 256)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 3)
    try s.train(slice(data.train, 4000), epochs: 1)
    let ms = Dictionary(uniqueKeysWithValues: s.evaluate(data.test).map { ($0.task, $0) })
    let L = data.test.labelWidth
    func labelled(_ task: String) -> Int {
      let j = g.tasks.first { $0.name == task }!.label!
      return (0..<data.test.count).filter { !data.test.labels[$0 * L + j].isNaN }.count
    }
    let ctrLabel = g.tasks.first { $0.name == "ctr" }!.label!
    let positives = (0..<data.test.count).filter { data.test.labels[$0 * L + ctrLabel] == 1 }.count
    #expect(ms["cvr"]!.scored == positives)
    #expect(ms["ctr"]!.scored == data.test.count)
    #expect(ms["occupation"]!.scored == labelled("occupation"))
    #expect(ms["occupation"]!.scored! < data.test.count, "adult has `?` occupations")
    #expect(ms["occupation"]!.perClass!.reduce(0) { $0 + $1.support } == ms["occupation"]!.scored!)
    #expect(ms["occupation"]!.perClass!.map(\.name) == data.fitted.classLists["occupation"]!)
    #expect(ms["occupation"]!.accuracy! > 0 && ms["occupation"]!.auc! > 0.5)
    // Classes are the distinct non-missing occupations of the training rows, sorted.
    let classes = data.fitted.classLists["occupation"]!
    #expect(classes.count == 14 && !classes.contains("?") && classes == classes.sorted())
  }

  @Test("a standardised regression label trains on (y - mean) / std and reports in its own units")
  func standardisedLabel() throws {
    let g = try Repo.graph("mixed_mmoe", batch: 256)
    let data = try Repo.data(g)
    let st = try #require(data.fitted.labelScale("hours"))
    let j = g.tasks.first { $0.name == "hours" }!.label!
    let L = data.train.labelWidth
    let z = (0..<data.train.count).map { Double(data.train.labels[$0 * L + j]) }
    let mean = z.reduce(0, +) / Double(z.count)
    let sd = (z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(z.count)).squareRoot()
    #expect(abs(mean) < 1e-5 && abs(sd - 1) < 1e-5, "standardised labels: mean \(mean), std \(sd)")
    #expect(abs(st.mean - 40.4) < 0.5 && abs(st.std - 12.4) < 0.5, "hours per week: \(st.mean) ± \(st.std)")
    // Back in hours: whole numbers, as in the file.
    #expect(
      (0..<200).allSatisfy {
        abs(
          Double(st.inverse(data.train.labels[$0 * L + j])).rounded()
            - Double(st.inverse(data.train.labels[$0 * L + j]))) < 1e-3
      })
    let s = Session(graph: g, fitted: data.fitted, seed: 3)
    try s.train(slice(data.train, 4000), epochs: 2)
    let m = s.evaluate(data.test).first { $0.task == "hours" }!
    #expect(abs(m.meanPrediction! - st.mean) < 5, "mean prediction \(m.meanPrediction!) hours")
    // The MSE in hours² is std² times the MSE of the standardised prediction.
    let preds = s.predict(data.test)[g.tasks.firstIndex { $0.name == "hours" }!]
    let ys = data.test.labelColumn(j)
    var standardisedMSE = 0.0
    for (p, y) in zip(preds, ys) {
      let pz = (Double(p) - st.mean) / st.std
      standardisedMSE += (pz - Double(y)) * (pz - Double(y))
    }
    standardisedMSE /= Double(ys.count)
    #expect(abs(m.mse! - standardisedMSE * st.std * st.std) < 1e-3 * m.mse!)
    #expect(m.mse! > 50 && m.mse! < 300, "MSE \(m.mse!) hours²")
  }

  @Test("multiclass metrics against a hand computation")
  func multiclassMetricsByHand() {
    // 4 rows, 3 classes. Class 0: scores (0.7, 0.2, 0.1, 0.3), labels (1, 0, 0, 0) -> AUC 1.
    // Class 1: scores (0.2, 0.5, 0.6, 0.3), positives rows 1 and 3 (0.5, 0.3) against (0.2, 0.6):
    //   pairs won 0.5>0.2, 0.3>0.2 = 2 of 4 -> 0.5. Class 2: scores (0.1, 0.3, 0.3, 0.4), positive row 2
    //   (0.3) against (0.1, 0.3, 0.4): 1 + 0.5 + 0 of 3 -> 0.5. Macro (1 + 0.5 + 0.5) / 3.
    let p: [Float] = [0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.1, 0.6, 0.3, 0.3, 0.3, 0.4]
    let y: [Float] = [0, 1, 2, 1]
    let m = Metrics.multiclass(labels: y, probabilities: p, classes: 3)
    // Arg-max: 0, 1, 1, 2 -> right on rows 0 and 1.
    #expect(m.accuracy == 0.5)
    let ll = -(log(0.7) + log(0.5) + log(0.3) + log(0.3)) / 4
    #expect(abs(m.logloss - ll) < 1e-6)
    #expect(m.perClass.map(\.support) == [1, 2, 1])
    #expect(abs(m.perClass[0].auc! - 1) < 1e-12 && abs(m.perClass[1].auc! - 0.5) < 1e-12)
    #expect(abs(m.perClass[2].auc! - 0.5) < 1e-12)
    #expect(abs(m.auc! - 2.0 / 3) < 1e-12)
  }

  @Test("a class not in the model's list is counted and not scored")
  func unseenClass() throws {
    let g = try Repo.graph("mixed_mmoe", batch: 64)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 3)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-unseen-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let csv = dir.appendingPathComponent("rows.csv").path
    let header =
      "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income-per-year\n"
    let rows =
      "39,State-gov,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,United-States,<=50K\n"
      + "50,Self-emp-not-inc,83311,Bachelors,13,Married-civ-spouse,Exec-managerial,Cousin,White,Male,0,0,13,United-States,<=50K\n"
      + "38,Private,215646,HS-grad,9,Divorced,Handlers-cleaners,Husband,White,Male,0,0,40,United-States,<=50K\n"
    try (header + rows).write(toFile: csv, atomically: true, encoding: .utf8)
    let (metrics, _) = try Inference.evaluate(s, dataPath: csv)
    let m = metrics.first { $0.task == "relationship" }!
    #expect(m.unseenClasses == 1 && m.scored == 2 && m.count == 3)
    let (n, out, _) = try Inference.predict(s, dataPath: csv)
    #expect(n == 3)
    let head = out.split(separator: "\n")[0]
    #expect(
      head
        == "income,relationship:Husband,relationship:Not-in-family,relationship:Other-relative,relationship:Own-child,relationship:Unmarried,relationship:Wife,relationship,hours"
    )
    // Each row's class probabilities sum to 1 and its class is the arg-max.
    for line in out.split(separator: "\n").dropFirst() {
      let f = line.split(separator: ",")
      let probs = f[1...6].map { Double($0)! }
      #expect(abs(probs.reduce(0, +) - 1) < 1e-5)
      let names = head.split(separator: ",")[1...6].map { String($0.dropFirst("relationship:".count)) }
      #expect(String(f[7]) == names[probs.firstIndex(of: probs.max()!)!])
    }
  }

  @Test("mixed tasks with learned weights: reruns are bit-identical, and a mid-epoch resume is exact")
  func resumeWithLearnedWeights() throws {
    let g = try Repo.graph("mixed_mmoe", batch: 128)
    let data = try Repo.data(g)
    let small = slice(data.train, 3000)
    let full = Session(graph: g, fitted: data.fitted, seed: 9)
    try full.train(small, epochs: 2)
    let again = Session(graph: g, fitted: data.fitted, seed: 9)
    try again.train(small, epochs: 2)
    #expect(again.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(again.executor.balancer.state == full.executor.balancer.state)

    let first = Session(graph: g, fitted: data.fitted, seed: 9)
    let c = try interruptedCheckpoint(first, small, epochs: 2, epochsDone: 1, batch: 7)
    let second = Session(graph: g, fitted: data.fitted, seed: 9)
    try second.restore(c)
    #expect(second.executor.balancer.state == first.executor.balancer.state)
    try second.train(small, epochs: 2)
    #expect(second.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(second.executor.balancer.state == full.executor.balancer.state)
    #expect(second.evaluate(data.test) == full.evaluate(data.test))
  }

  @Test("a training file whose multiclass label has one class is a data error naming the column")
  func oneClassIsAnError() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-oneclass-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let csv = dir.appendingPathComponent("t.csv").path
    var text = "x,c,y\n"
    for i in 0..<20 { text += "\(i),a,\(i % 2)\n" }
    try text.write(toFile: csv, atomically: true, encoding: .utf8)
    let p = Pipeline(
      train: csv, test: nil, testFraction: 0, splitSeed: 1, sparse: [],
      dense: [DenseFeature(name: "x", column: "x", normalize: .none, missing: [])],
      labels: [LabelColumn(task: "k", column: "c", rule: .learnedClasses)])
    #expect {
      try LoadedData.load(p, cache: nil)
    } throws: { e in
      "\(e)".contains("multiclass task `k` has 1 class on the training rows (`a`)") && "\(e)".contains("column `c`")
    }
  }
}
