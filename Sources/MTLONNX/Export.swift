// ONNX export: a compiled graph, its fitted feature pipeline and trained weights -> one ONNX model
// that a serving stack (onnxruntime, Triton) runs without mtlc. docs/graph-format.md, "ONNX export".
//
// Inputs, one per feature, shape [N, 1]:
// - a sparse feature with a learned or fixed vocabulary: `string`, the raw cell (as mtlc reads it:
//   ASCII spaces around it trimmed). An ai.onnx.ml LabelEncoder maps vocabulary values to rows
//   1...n and everything else (missing markers, "", unseen values) to row 0, as `FittedSparse` does.
// - a hashed sparse feature: `int64`, the embedding row (1 + fnv1a64(UTF-8) % buckets; 0 for
//   missing). ONNX has no string hash, so the caller computes it; the exporter lists these features.
// - a dense feature: `double`, the raw number, NaN for missing. The model normalises it exactly as
//   `FittedDense.transform` does, in double, then rounds to float as mtlc's encoder does.
// Outputs: one per task, named after it, [N, 1] float (probabilities for binary tasks, the value in
// the label's units for regression tasks), [N, K] for a multiclass task (one probability per class,
// in the order of the `mtlc.classes` metadata).
//
// The forward pass follows `Worker.forward` op by op; values with E > 1 experts are [N, E, W]
// tensors, the others [N, W].

import Foundation
import MTLData
import MTLGraph
import SwiftProtobuf

public struct ONNXExportError: Error, CustomStringConvertible {
  public var message: String
  public var description: String { message }
}

public enum ONNXExport {
  /// Opsets the exported model imports.
  public static let opset: Int64 = 17
  public static let mlOpset: Int64 = 2
  /// IR version 8 (ONNX 1.10+), the first with opset 17.
  public static let irVersion: Int64 = 8

  public struct Result {
    public var model: Onnx_ModelProto
    /// Sparse features whose input is an int64 row id, not a string (hashed vocabularies).
    public var integerInputs: [FittedSparse]
    /// The serialized model.
    public func bytes() throws -> [UInt8] { try model.serializedBytes() }
  }

  /// Exports `graph` (bound or not: it is bound to `fitted` here) with `params` (in graph order).
  public static func export(
    graph unbound: Graph, fitted: FittedPipeline, params: [[Float]], producerVersion: String = ""
  )
    throws -> Result
  {
    let graph = fitted.bind(unbound)
    guard graph.isBound else { throw ONNXExportError(message: "the graph has unbound parameter shapes") }
    guard params.count == graph.params.count else {
      throw ONNXExportError(message: "\(params.count) weight tensors for \(graph.params.count) parameters")
    }
    for (p, w) in zip(graph.params, params) where p.count != w.count {
      throw ONNXExportError(message: "parameter `\(p.name)` has \(w.count) weights, not \(p.count) (\(p.shapeText))")
    }
    guard fitted.sparse.count == graph.pipeline.sparse.count, fitted.dense.count == graph.pipeline.dense.count else {
      throw ONNXExportError(message: "the fitted pipeline does not match the graph's features")
    }
    var b = Builder()
    // Public names first: inputs (features) and outputs (tasks) must be distinct.
    for name in fitted.sparse.map(\.name) + fitted.dense.map(\.name) {
      guard b.reserve(name) else { throw ONNXExportError(message: "two features are named `\(name)`") }
    }
    for t in graph.tasks {
      guard b.reserve(t.name) else {
        throw ONNXExportError(
          message:
            "task `\(t.name)` has the name of a feature or another task; ONNX inputs and outputs need distinct names")
      }
    }

    var integerInputs: [FittedSparse] = []
    // Sparse inputs -> int64 row ids [N]; a multi-valued feature's [N, L] (its values split by the
    // caller, padded with "" or, hashed, with -1), -1 where there is no row to pool.
    var sparseRows: [String] = []
    for (slot, f) in fitted.sparse.enumerated() {
      let ids: String
      let multi = graph.pipeline.sparse[slot].multi
      let width = Int64(multi?.maxLength ?? 1)
      if f.hashBuckets != nil {
        integerInputs.append(f)
        b.input(f.name, type: .int64, width: width)
        ids = f.name
      } else {
        b.input(f.name, type: .string, width: width)
        let missing = Set(f.missing + [""])
        var keys: [Data] = []
        var rows: [Int64] = []
        for (i, v) in f.values.enumerated() where !missing.contains(v) {
          keys.append(Data(v.utf8))
          rows.append(Int64(i + 1))
        }
        // One value: anything not in the vocabulary is row 0. A bag: it is left out (-1).
        let other: Int64 = multi == nil ? 0 : -1
        if keys.isEmpty {  // LabelEncoder needs a key; this one maps where everything else does.
          keys = [Data("".utf8)]
          rows = [other]
        }
        ids = b.node(
          "LabelEncoder", [f.name], hint: "\(f.name).row", domain: "ai.onnx.ml",
          attributes: [
            .strings("keys_strings", keys), .ints("values_int64s", rows), .int("default_int64", other),
          ])
      }
      sparseRows.append(
        multi == nil ? b.node("Reshape", [ids, b.int64s([-1], hint: "shape.flat")], hint: "\(f.name).rows") : ids)
    }

    // Dense inputs -> normalised float [N, 1] each.
    var denseColumns: [String] = []
    for d in fitted.dense {
      b.input(d.name, type: .double, width: 1)
      let x = d.name
      var y: String
      switch d.normalize {
      case .none: y = x
      case .minmax:
        y =
          d.max > d.min
          ? b.node(
            "Div",
            [
              b.node("Sub", [x, b.double(d.min, hint: "\(d.name).min")]),
              b.double(d.max - d.min, hint: "\(d.name).range"),
            ])
          : b.double(0, hint: "zero.d")
      case .standard:
        y =
          d.std > 0
          ? b.node(
            "Div",
            [b.node("Sub", [x, b.double(d.mean, hint: "\(d.name).mean")]), b.double(d.std, hint: "\(d.name).std")])
          : b.double(0, hint: "zero.d")
      case .log:
        y = b.node(
          "Log", [b.node("Add", [b.node("Max", [x, b.double(0, hint: "zero.d")]), b.double(1, hint: "one.d")])])
      }
      // Missing (NaN) -> 0 after normalisation; Where also broadcasts a constant to [N, 1].
      y = b.node("Where", [b.node("IsNaN", [x]), b.double(0, hint: "zero.d"), y])
      denseColumns.append(
        b.node("Cast", [y], hint: "\(d.name).normalized", attributes: [.int("to", Int64(DType.float.rawValue))]))
    }

    // Parameters as initializers.
    var paramNames: [String] = []
    for (p, w) in zip(graph.params, params) {
      paramNames.append(b.floats(w, dims: p.shape.map(Int64.init), name: p.name))
    }

    // The forward pass.
    var tensor = [String?](repeating: nil, count: graph.values.count)
    func valueName(_ v: ValueID) -> String { b.unique("\(graph.values[v].name)") }
    /// Value `v` as [N, rowWidth].
    func flat(_ v: ValueID) -> String {
      let val = graph.values[v]
      let t = tensor[v]!
      return val.experts == 1 ? t : b.node("Reshape", [t, b.int64s([-1, Int64(val.rowWidth)], hint: "shape")])
    }
    /// Value `v` as [N, E, W] (E may be 1).
    func stacked(_ v: ValueID) -> String {
      let val = graph.values[v]
      let t = tensor[v]!
      return val.experts > 1 ? t : b.node("Unsqueeze", [t, b.int64s([1], hint: "axes.1")])
    }
    /// A [N, rowWidth] result stored as value `v`'s shape.
    func store(_ t: String, _ v: ValueID) {
      let val = graph.values[v]
      tensor[v] =
        val.experts == 1
        ? b.node("Identity", [t], name: valueName(v))
        : b.node(
          "Reshape", [t, b.int64s([-1, Int64(val.experts), Int64(val.width)], hint: "shape")], name: valueName(v))
    }
    func activate(_ t: String, _ a: Activation) -> String {
      switch a {
      case .none: return t
      case .relu: return b.node("Relu", [t])
      case .sigmoid: return b.node("Sigmoid", [t])
      case .tanh: return b.node("Tanh", [t])
      case .leakyRelu: return b.node("LeakyRelu", [t], attributes: [.float("alpha", 0.01)])
      case .prelu, .gelu, .swish: preconditionFailure("verified graphs apply \(a) in an `activation` op")
      }
    }

    for op in graph.ops {
      let out = graph.values[op.output]
      switch op.kind {
      case .embed:
        guard let slot = op.slot, slot < sparseRows.count else {
          throw ONNXExportError(message: "embed op without a valid sparse slot")
        }
        guard let m = graph.pipeline.sparse[slot].multi else {
          store(
            b.node("Gather", [paramNames[op.params[0]], sparseRows[slot]], attributes: [.int("axis", 0)]), op.output)
          continue
        }
        // A bag [N, L] of rows (-1: none) -> [N, L, D] embeddings, pooled over the valid ones.
        let ids = sparseRows[slot]
        let valid = b.node("Greater", [ids, b.int64s([-1], hint: "minus1")])
        let rows = b.node(
          "Gather", [paramNames[op.params[0]], b.node("Max", [ids, b.int64s([0], hint: "zero.i64")])],
          attributes: [.int("axis", 0)])
        let validF = b.node("Cast", [valid], attributes: [.int("to", Int64(DType.float.rawValue))])
        let count = b.node("ReduceSum", [validF, b.int64s([1], hint: "axes.1")], attributes: [.int("keepdims", 1)])
        let valid3 = b.node("Unsqueeze", [valid, b.int64s([2], hint: "axes.2")])
        let pooled: String
        switch m.pooling {
        case .sum, .mean:
          let masked = b.node("Where", [valid3, rows, b.float(0, hint: "zero")])
          let sum = b.node("ReduceSum", [masked, b.int64s([1], hint: "axes.1")], attributes: [.int("keepdims", 0)])
          pooled = m.pooling == .sum ? sum : b.node("Div", [sum, b.node("Max", [count, b.float(1, hint: "one")])])
        case .max:
          let masked = b.node("Where", [valid3, rows, b.float(-.infinity, hint: "minus_inf")])
          let top = b.node("ReduceMax", [masked], attributes: [.ints("axes", [1]), .int("keepdims", 0)])
          pooled = b.node(
            "Where", [b.node("Greater", [count, b.float(0, hint: "zero")]), top, b.float(0, hint: "zero")])
        }
        store(pooled, op.output)
      case .denseInput:
        guard !denseColumns.isEmpty else { throw ONNXExportError(message: "dense_input op without dense features") }
        store(
          denseColumns.count == 1 ? denseColumns[0] : b.node("Concat", denseColumns, attributes: [.int("axis", 1)]),
          op.output)
      case .concat:
        let parts = op.inputs.map(flat)
        store(parts.count == 1 ? parts[0] : b.node("Concat", parts, attributes: [.int("axis", 1)]), op.output)
      case .linear:
        var inputs = [flat(op.inputs[0]), paramNames[op.params[0]]]
        if op.params.count > 1 { inputs.append(paramNames[op.params[1]]) }
        store(activate(b.node("Gemm", inputs), op.activation), op.output)
      case .expertLinear:
        let x = graph.values[op.inputs[0]]
        guard x.experts == out.experts, out.experts > 1 else {
          throw ONNXExportError(message: "expert_linear from \(x.shapeText) to \(out.shapeText) is not supported")
        }
        // [N, E, I] -> [E, N, I] x [E, I, O] -> [E, N, O] -> [N, E, O] + b [E, O]
        let xt = b.node("Transpose", [tensor[op.inputs[0]]!], attributes: [.ints("perm", [1, 0, 2])])
        let prod = b.node("MatMul", [xt, paramNames[op.params[0]]])
        let back = b.node("Transpose", [prod], attributes: [.ints("perm", [1, 0, 2])])
        let z = b.node("Add", [back, paramNames[op.params[1]]])
        tensor[op.output] = b.node("Identity", [activate(z, op.activation)], name: valueName(op.output))
      case .softmax:
        store(b.node("Softmax", [flat(op.inputs[0])], attributes: [.int("axis", 1)]), op.output)
      case .mix:
        guard let refs = op.mix, !refs.isEmpty else { throw ONNXExportError(message: "mix op without experts") }
        // The inputs mixed from, side by side along the expert axis, then the K experts gathered.
        let used = Array(Set(refs.map(\.input))).sorted()
        var offset: [Int: Int] = [:]
        var total = 0
        for p in used {
          guard p >= 1, p < op.inputs.count else { throw ONNXExportError(message: "mix refers to input \(p)") }
          let v = graph.values[op.inputs[p]]
          guard v.width == out.width else {
            throw ONNXExportError(message: "mix of width \(v.width) experts into width \(out.width)")
          }
          offset[p] = total
          total += v.experts
        }
        let pool =
          used.count == 1
          ? stacked(op.inputs[used[0]])
          : b.node("Concat", used.map { stacked(op.inputs[$0]) }, attributes: [.int("axis", 1)])
        let index = refs.map { Int64(offset[$0.input]! + $0.expert) }
        let experts = b.node("Gather", [pool, b.int64s(index, hint: "mix.index")], attributes: [.int("axis", 1)])
        let gate = b.node("Unsqueeze", [flat(op.inputs[0]), b.int64s([2], hint: "axes.2")])
        let weighted = b.node("Mul", [experts, gate])
        store(
          b.node("ReduceSum", [weighted, b.int64s([1], hint: "axes.1")], attributes: [.int("keepdims", 0)]),
          op.output)
      case .sigmoid:
        store(b.node("Sigmoid", [flat(op.inputs[0])]), op.output)
      case .product:
        var acc = flat(op.inputs[0])
        for v in op.inputs.dropFirst() { acc = b.node("Mul", [acc, flat(v)]) }
        store(acc, op.output)
      case .batchNorm:
        // Inference: the running statistics, as the runtime uses them: (x − μ)·s·γ + β with
        // s = 1/√(σ² + ε) computed in double and rounded to float, then the activation.
        let rv = params[op.params[3]]
        let eps = Double(OpKind.batchNormEpsilon)
        let invStd = rv.map { Float(1 / (Double($0) + eps).squareRoot()) }
        let s = b.floats(invStd, dims: [Int64(invStd.count)], name: "\(graph.params[op.params[3]].name).inv_std")
        let centred = b.node("Sub", [flat(op.inputs[0]), paramNames[op.params[2]]])
        let scaled = b.node("Mul", [b.node("Mul", [centred, s]), paramNames[op.params[0]]])
        store(activate(b.node("Add", [scaled, paramNames[op.params[1]]]), op.activation), op.output)
      case .dot:
        // scale · Σ_k a·b per row, [N, 1].
        let prod = b.node("Mul", [flat(op.inputs[0]), flat(op.inputs[1])])
        let sum = b.node("ReduceSum", [prod, b.int64s([1], hint: "axes.1")], attributes: [.int("keepdims", 1)])
        store(b.node("Mul", [sum, b.float(op.scale ?? 1, hint: "dot.scale")]), op.output)
      case .activation:
        let x = flat(op.inputs[0])
        let y: String
        switch op.activation {
        case .gelu:
          // Opset 17 has no Gelu: 0.5 · x · (1 + erf(x / √2)), the exact form the runtime computes.
          let erf = b.node("Erf", [b.node("Mul", [x, b.float(0.707_106_77, hint: "inv_sqrt2")])])
          let half = b.node("Mul", [x, b.float(0.5, hint: "half")])
          y = b.node("Mul", [half, b.node("Add", [erf, b.float(1, hint: "one")])])
        case .swish:
          y = b.node("Mul", [x, b.node("Sigmoid", [x])])
        case .prelu:
          y = b.node("PRelu", [x, paramNames[op.params[0]]])
        case .leakyRelu:
          y = b.node("LeakyRelu", [x], attributes: [.float("alpha", op.slope ?? 0.01)])
        case .none, .relu, .sigmoid, .tanh:
          throw ONNXExportError(message: "an `activation` op with \(op.activation.rawValue)")
        }
        store(y, op.output)
      case .dropout:
        // Off at inference: the same tensor under the value's name.
        tensor[op.output] = b.node("Identity", [tensor[op.inputs[0]]!], name: valueName(op.output))
      }
    }

    for t in graph.tasks {
      guard var p = tensor[t.prediction] else {
        throw ONNXExportError(message: "task `\(t.name)`: its prediction is not computed by any op")
      }
      if let st = fitted.labelScale(t.name) {
        // A standardised label: the prediction in the label's units, in double as
        // `FittedLabel.inverse` computes it, then rounded to float.
        let z = b.node("Cast", [p], attributes: [.int("to", Int64(DType.double.rawValue))])
        let y = b.node(
          "Add",
          [
            b.node("Mul", [z, b.double(st.std, hint: "\(t.name).label.std")]),
            b.double(st.mean, hint: "\(t.name).label.mean"),
          ])
        p = b.node("Cast", [y], attributes: [.int("to", Int64(DType.float.rawValue))])
      }
      b.graph.node.append(Builder.nodeProto("Identity", [p], [t.name], name: "output.\(t.name)"))
      b.graph.output.append(Builder.valueInfo(t.name, type: .float, width: Int64(t.width)))
    }

    b.graph.name = graph.name
    var m = Onnx_ModelProto()
    m.irVersion = irVersion
    m.producerName = "mtlc"
    m.producerVersion = producerVersion
    m.graph = b.graph
    m.docString =
      "mtlc model `\(graph.name)`. Inputs: one per feature, [N, 1]: sparse features as raw strings (int64 rows when hashed), dense features as raw double numbers, NaN for missing. Outputs: one per task, [N, 1] float ([N, K] class probabilities for a multiclass task)."
    var core = Onnx_OperatorSetIdProto()
    core.domain = ""
    core.version = opset
    var ml = Onnx_OperatorSetIdProto()
    ml.domain = "ai.onnx.ml"
    ml.version = mlOpset
    m.opsetImport = [core, ml]
    var meta = Onnx_StringStringEntryProto()
    meta.key = "mtlc.tasks"
    meta.value = graph.tasks.map { "\($0.name):\($0.type.rawValue)" }.joined(separator: ",")
    var inputs = Onnx_StringStringEntryProto()
    inputs.key = "mtlc.inputs"
    inputs.value = inputsJSON(fitted)
    m.metadataProps = [meta, inputs]
    let multiclass = graph.tasks.filter { $0.type == .multiclass }
    if !multiclass.isEmpty {
      var classes = Onnx_StringStringEntryProto()
      classes.key = "mtlc.classes"
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys]
      let table = Dictionary(multiclass.map { ($0.name, $0.classes ?? []) }, uniquingKeysWith: { a, _ in a })
      classes.value = String(decoding: (try? enc.encode(table)) ?? Data(), as: UTF8.self)
      m.metadataProps.append(classes)
    }
    return Result(model: m, integerInputs: integerInputs)
  }

  /// Every input: its feature, CSV column, element type (`string`, `int64`, `double`), missing
  /// markers and, for hashed features, the bucket count (JSON, in input order),
  /// so a client can feed raw CSV rows.
  static func inputsJSON(_ fitted: FittedPipeline) -> String {
    struct Entry: Encodable {
      var name: String
      var column: String
      var type: String
      var missing: [String]
      var hashBuckets: Int?
      /// A multi-valued feature: the cell's values split at `separator`, the first `maxLength`
      /// kept (padded with "" or, hashed, with -1).
      var separator: String? = nil
      var maxLength: Int? = nil
    }
    let entries =
      zip(fitted.sparse, fitted.pipeline.sparse).map { f, s in
        Entry(
          name: f.name, column: f.column, type: f.hashBuckets == nil ? "string" : "int64", missing: f.missing,
          hashBuckets: f.hashBuckets, separator: s.multi?.separator, maxLength: s.multi?.maxLength)
      }
      + fitted.dense.map { Entry(name: $0.name, column: $0.column, type: "double", missing: $0.missing) }
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    return String(decoding: (try? enc.encode(entries)) ?? Data(), as: UTF8.self)
  }

  /// What a caller needs to feed int64 inputs: for each hashed feature, its bucket count, missing
  /// markers and the row formula. JSON, sorted keys.
  public static func vocabularyJSON(_ integerInputs: [FittedSparse]) -> [UInt8] {
    struct Entry: Encodable {
      var feature: String
      var column: String
      var hashBuckets: Int?
      var missing: [String]
      var rows: String
    }
    let entries = integerInputs.map {
      Entry(
        feature: $0.name, column: $0.column, hashBuckets: $0.hashBuckets, missing: $0.missing,
        rows:
          "int64 input [N, 1]: 0 for a missing value (a `missing` marker or the empty cell), else 1 + fnv1a64(UTF-8 bytes of the cell, ASCII spaces around it trimmed) % hashBuckets"
      )
    }
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .prettyPrinted]
    return Array((try? enc.encode(["integerInputs": entries])) ?? Data())
  }
}

typealias DType = Onnx_TensorProto.DataType

enum Attr {
  case int(String, Int64)
  case float(String, Float)
  case ints(String, [Int64])
  case strings(String, [Data])

  var proto: Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    switch self {
    case .int(let n, let v):
      a.name = n
      a.type = .int
      a.i = v
    case .float(let n, let v):
      a.name = n
      a.type = .float
      a.f = v
    case .ints(let n, let v):
      a.name = n
      a.type = .ints
      a.ints = v
    case .strings(let n, let v):
      a.name = n
      a.type = .strings
      a.strings = v
    }
    return a
  }
}

/// Builds the graph: unique tensor names, nodes, shared constants.
struct Builder {
  var graph = Onnx_GraphProto()
  private var names: Set<String> = []
  private var constants: [String: String] = [:]
  private var counter = 0

  /// Claims `name` as is; false when taken.
  mutating func reserve(_ name: String) -> Bool { names.insert(name).inserted }

  /// A fresh name starting with `hint`.
  mutating func unique(_ hint: String) -> String {
    var n = hint
    var k = 1
    while names.contains(n) {
      n = "\(hint)_\(k)"
      k += 1
    }
    names.insert(n)
    return n
  }

  mutating func input(_ name: String, type: DType, width: Int64) {
    graph.input.append(Builder.valueInfo(name, type: type, width: width))
  }

  static func valueInfo(_ name: String, type: DType, width: Int64) -> Onnx_ValueInfoProto {
    var n = Onnx_TensorShapeProto.Dimension()
    n.dimParam = "N"
    var w = Onnx_TensorShapeProto.Dimension()
    w.dimValue = width
    var t = Onnx_TypeProto.Tensor()
    t.elemType = Int32(type.rawValue)
    t.shape.dim = [n, w]
    var v = Onnx_ValueInfoProto()
    v.name = name
    v.type.tensorType = t
    return v
  }

  static func nodeProto(_ op: String, _ inputs: [String], _ outputs: [String], name: String, domain: String = "")
    -> Onnx_NodeProto
  {
    var n = Onnx_NodeProto()
    n.opType = op
    n.input = inputs
    n.output = outputs
    n.name = name
    if !domain.isEmpty { n.domain = domain }
    return n
  }

  /// Appends a node with one output and returns that output's name.
  mutating func node(
    _ op: String, _ inputs: [String], hint: String? = nil, name: String? = nil, domain: String = "",
    attributes: [Attr] = []
  ) -> String {
    let out = name ?? unique(hint ?? "t\(counter).\(op)")
    counter += 1
    var n = Builder.nodeProto(op, inputs, [out], name: "n\(counter).\(op)", domain: domain)
    n.attribute = attributes.map(\.proto)
    graph.node.append(n)
    return out
  }

  /// A float initializer (little-endian raw data).
  mutating func floats(_ values: [Float], dims: [Int64], name: String) -> String {
    let n = unique(name)
    var t = Onnx_TensorProto()
    t.name = n
    t.dims = dims
    t.dataType = Int32(DType.float.rawValue)
    t.rawData = values.withUnsafeBytes { Data($0) }
    graph.initializer.append(t)
    return n
  }

  /// An initializer named after `hint`, filled by `fill`, shared between uses with the same `key`.
  private mutating func constant(key: String, hint: String, _ fill: (inout Onnx_TensorProto) -> Void) -> String {
    if let n = constants[key] { return n }
    let n = unique("const.\(hint)")
    var t = Onnx_TensorProto()
    t.name = n
    fill(&t)
    graph.initializer.append(t)
    constants[key] = n
    return n
  }

  /// A 1-D int64 initializer, shared between equal uses.
  mutating func int64s(_ values: [Int64], hint: String) -> String {
    constant(key: "i64:" + values.map(String.init).joined(separator: ","), hint: hint) {
      $0.dims = [Int64(values.count)]
      $0.dataType = Int32(DType.int64.rawValue)
      $0.int64Data = values
    }
  }

  /// A scalar float initializer, shared between equal uses.
  mutating func float(_ value: Float, hint: String) -> String {
    constant(key: "f32:\(value.bitPattern)", hint: hint) {
      $0.dataType = Int32(DType.float.rawValue)
      $0.floatData = [value]
    }
  }

  /// A scalar double initializer, shared between equal uses.
  mutating func double(_ value: Double, hint: String) -> String {
    constant(key: "f64:\(value.bitPattern)", hint: hint) {
      $0.dataType = Int32(DType.double.rawValue)
      $0.doubleData = [value]
    }
  }
}
