import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLONNX
import MTLTrain
import Testing

/// The exported ONNX model's structure, without onnxruntime (scripts/onnx-parity checks its numbers).
struct ExportStructureTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static func session(_ name: String) throws -> Session {
    var opts = Compiler.Options()
    opts.readData = false
    let r = Compiler.compile(path: root.appendingPathComponent("specs/\(name).yaml").path, options: opts)
    let g = try #require(r.graph, "\(name) did not compile:\n\(r.rendered)")
    let data = try LoadedData.load(g.pipeline, cache: nil)
    return Session(graph: g, fitted: data.fitted, seed: 7, threads: 1)
  }

  static func export(_ s: Session) throws -> Onnx_ModelProto {
    let r = try ONNXExport.export(graph: s.graph, fitted: s.fitted, params: s.checkpoint().params)
    // It survives serialization.
    return try Onnx_ModelProto(serializedBytes: try r.bytes())
  }

  @Test func mmoeInputsOutputsAndInitializers() throws {
    let s = try Self.session("mmoe")
    let m = try Self.export(s)
    let g = m.graph
    #expect(m.irVersion == ONNXExport.irVersion)
    #expect(m.opsetImport.map(\.domain).sorted() == ["", "ai.onnx.ml"])

    // One input per feature, named after it: strings for sparse, doubles for dense, [N, 1].
    let features = s.fitted.sparse.map(\.name) + s.fitted.dense.map(\.name)
    #expect(g.input.map(\.name) == features)
    for (i, v) in g.input.enumerated() {
      let t = v.type.tensorType
      let expected: Onnx_TensorProto.DataType = i < s.fitted.sparse.count ? .string : .double
      #expect(t.elemType == Int32(expected.rawValue), "input \(v.name)")
      #expect(t.shape.dim.count == 2 && t.shape.dim[0].dimParam == "N" && t.shape.dim[1].dimValue == 1)
    }
    // One output per task, float [N, 1].
    #expect(g.output.map(\.name) == s.graph.tasks.map(\.name))
    for v in g.output { #expect(v.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue)) }

    // Every parameter is an initializer of its bound shape, its weights as raw floats.
    let inits = Dictionary(g.initializer.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let weights = s.checkpoint().params
    for (p, w) in zip(s.graph.params, weights) {
      let t = try #require(inits[p.name], "no initializer for \(p.name)")
      #expect(t.dims == p.shape.map(Int64.init), "\(p.name)")
      #expect(t.rawData.count == 4 * w.count)
      let back = t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      #expect(back == w, "\(p.name)")
    }
    // Embedding tables have one row per vocabulary value plus the missing-or-unseen row.
    for f in s.fitted.sparse {
      let table = s.graph.params.first { $0.rowsFrom == f.name }
      #expect(table?.shape[0] == f.values.count + 1)
    }

    // One LabelEncoder per sparse feature: vocabulary value i -> row i + 1, anything else -> 0.
    let encoders = g.node.filter { $0.opType == "LabelEncoder" }
    #expect(encoders.count == s.fitted.sparse.count)
    for (f, n) in zip(s.fitted.sparse, encoders) {
      #expect(n.domain == "ai.onnx.ml" && n.input == [f.name])
      let keys = n.attribute.first { $0.name == "keys_strings" }?.strings.map { String(decoding: $0, as: UTF8.self) }
      let rows = n.attribute.first { $0.name == "values_int64s" }?.ints
      #expect(keys == f.values.filter { !f.missing.contains($0) })
      #expect(rows == (1...f.values.count).map(Int64.init).filter { !f.missing.contains(f.values[Int($0) - 1]) })
      #expect(n.attribute.first { $0.name == "default_int64" }?.i == 0)
    }
    // Every tensor a node reads is an input, an initializer or an earlier node's output.
    var known = Set(g.input.map(\.name) + g.initializer.map(\.name))
    for n in g.node {
      for i in n.input { #expect(known.contains(i), "node \(n.name) reads \(i) before it is defined") }
      for o in n.output { #expect(known.insert(o).inserted, "\(o) is defined twice") }
    }
    for o in g.output { #expect(known.contains(o.name)) }
    // The mixture of experts: one Gather over the expert axis per gate.
    #expect(g.node.filter { $0.opType == "ReduceSum" }.count == s.graph.ops.filter { $0.kind == .mix }.count)
  }

  @Test func esmmHasAnOutputForItsUnlabelledTask() throws {
    let s = try Self.session("esmm")
    let m = try Self.export(s)
    #expect(m.graph.output.map(\.name) == ["ctr", "cvr", "ctcvr"])
  }

  @Test func refusesMismatchedWeights() throws {
    let s = try Self.session("shared_bottom")
    var w = s.checkpoint().params
    w.removeLast()
    #expect(throws: ONNXExportError.self) { try ONNXExport.export(graph: s.graph, fitted: s.fitted, params: w) }
  }
}
