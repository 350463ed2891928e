import MTLDiagnostics
import MTLYAML

/// YAML node tree -> `Spec`. Checks keys, types and value ranges; references and the model's
/// structure are the validator's job (MTLIR). All errors of this stage are reported together.
public enum SpecDecoder {
  public static let supportedVersion = 1
  static let topKeys = SpecKeys.top.allowed

  public static func decode(_ root: YAMLNode, path: String) -> (Spec?, Diagnostics) {
    var r = Reader()
    // Version first: a spec for another version gets one clear error, not a cascade of unknown keys.
    if case .mapping(let pairs) = root.kind, let v = pairs.first(where: { $0.name == "mtlc" })?.value {
      var vr = Reader()
      if let n = vr.int(v, "`mtlc` (the spec version)", in: Int.min...Int.max), n != supportedVersion {
        r.diags.error(
          .unsupportedVersion, "spec version \(n) is not supported", at: v.span,
          help: "this mtlc reads `mtlc: \(supportedVersion)`")
        return (nil, r.diags)
      }
      r.diags.add(contentsOf: vr.diags)
    }
    guard let top = r.mapping(root, "the spec", allowed: topKeys, required: SpecKeys.top.required)
    else { return (nil, r.diags) }

    let name = top.value("name").flatMap { r.string($0, "`name`") } ?? defaultName(path)
    let description = top.value("description").flatMap { r.string($0, "`description`") } ?? ""
    let data = top.value("data").flatMap { decodeData($0, &r) }
    let features =
      top.value("features").map { decodeFeatures($0, data?.missing ?? [], delimiter: data?.delimiter ?? ",", &r) }
      ?? []
    let tasks = top.value("tasks").map { decodeNamed($0, "tasks", &r, decodeTask) } ?? []
    if let n = top.value("tasks"), case .mapping(let p) = n.kind, p.isEmpty {
      r.diags.error(.emptyList, "`tasks` is empty", at: n.span, help: "define at least one task with a label")
    }
    let experts = top.value("experts").map { decodeNamed($0, "experts", &r, decodeExpert) } ?? []
    let gates = top.value("gates").map { decodeNamed($0, "gates", &r, decodeGate) } ?? []
    let towers = top.value("towers").map { decodeNamed($0, "towers", &r, decodeTower) } ?? []
    let training = top.value("training").map { decodeTraining($0, &r) } ?? TrainingDecl()

    guard !r.diags.hasErrors, let data else { return (nil, r.diags) }
    let spec = Spec(
      path: path, version: supportedVersion, name: name, description: description, data: data,
      features: features, tasks: tasks, experts: experts, gates: gates, towers: towers, training: training,
      featuresSpan: top.pair("features")!.key.span)
    return (spec, r.diags)
  }

  static func defaultName(_ path: String) -> String {
    var base = path.split(separator: "/").last.map(String.init) ?? path
    if let dot = base.lastIndex(of: ".") { base = String(base[..<dot]) }
    return base
  }

  // MARK: data

  static func decodeData(_ node: YAMLNode, _ r: inout Reader) -> DataDecl? {
    guard
      let m = r.mapping(
        node, "`data`", allowed: SpecKeys.data.allowed, required: SpecKeys.data.required)
    else { return nil }
    let train = m.value("train").flatMap { n in r.string(n, "`data.train`").map { Located($0, n.span) } }
    let test = m.value("test").flatMap { n in r.string(n, "`data.test`").map { Located($0, n.span) } }
    var fraction = 0.2
    if let n = m.value("test_fraction") {
      if test != nil {
        r.diags.error(
          .conflictingKeys, "`test_fraction` has no effect when `test` is given", at: m.pair("test_fraction")!.key.span,
          help: "remove `test_fraction`, or remove `test` to hold out a fraction of the training rows")
      }
      fraction = r.double(n, "`data.test_fraction`", in: 0...0.9, openLow: true) ?? fraction
    }
    let seed = m.value("split_seed").flatMap { r.int($0, "`data.split_seed`", in: 0...Int.max) }
    var delimiter = ","
    if let n = m.value("delimiter"), let d = r.string(n, "`data.delimiter`") {
      if d.utf8.count != 1 || d == "\"" || d == "\n" || d == "\r" {
        r.diags.error(
          .invalidValue,
          "`data.delimiter` must be one ASCII character other than a quote or a line break, found `\(d)`",
          at: n.span)
      } else {
        delimiter = d
      }
    }
    let missing =
      m.value("missing").flatMap { r.stringList($0, "`data.missing`", allowScalar: true) }?.map(\.value) ?? []
    let onBadRow = m.value("on_bad_row").flatMap { r.choice($0, "`data.on_bad_row` value", BadRowAction.self) }
    let validation = m.value("validation").flatMap { n in
      r.string(n, "`data.validation`").map { Located($0, n.span) }
    }
    var validationFraction = 0.0
    if let n = m.value("validation_fraction") {
      if validation != nil {
        r.diags.error(
          .conflictingKeys, "`validation_fraction` has no effect when `validation` is given",
          at: m.pair("validation_fraction")!.key.span,
          help: "remove `validation_fraction`, or remove `validation` to hold out a fraction of the training rows")
      }
      validationFraction = r.double(n, "`data.validation_fraction`", in: 0...0.9, openLow: true) ?? 0
      let testShare = test == nil ? fraction : 0
      if testShare + validationFraction >= 0.95 {
        r.diags.error(
          .outOfRange,
          "`validation_fraction` \(validationFraction) and the test fraction \(testShare) leave under 5% of the rows to train on",
          at: n.span, help: "hold out less")
      }
    }
    guard let train else { return nil }
    var d = DataDecl(
      train: train, test: test, testFraction: fraction, splitSeed: seed, delimiter: delimiter, missing: missing,
      onBadRow: onBadRow ?? .error, span: r.keySpan(node))
    d.validation = validation
    d.validationFraction = validationFraction
    if let n = m.value("streaming") { d.streaming = r.bool(n, "`data.streaming`") }
    if let n = m.value("shard_rows") { d.shardRows = r.int(n, "`data.shard_rows`", in: 1...(1 << 24)) }
    if let n = m.value("shuffle_window") { d.shuffleWindow = r.int(n, "`data.shuffle_window`", in: 1...(1 << 28)) }
    if let n = m.value("columns"), let list = r.stringList(n, "`data.columns`") {
      var seen: [String: Span] = [:]
      for c in list {
        if let first = seen[c.value] {
          r.diags.error(
            .duplicateName, "column `\(c.value)` is named twice in `data.columns`", at: c.span,
            notes: ["first named at \(first.location)"])
        }
        seen[c.value] = c.span
      }
      if list.isEmpty {
        r.diags.error(
          .emptyList, "`data.columns` is empty", at: n.span, help: "name every column of the files, in order")
      } else {
        d.columns = Located(list.map(\.value), n.span)
      }
    }
    return d
  }

  // MARK: features

  static let featureKeys = SpecKeys.feature.allowed

  static func decodeFeatures(
    _ node: YAMLNode, _ defaultMissing: [String], delimiter: String, _ r: inout Reader
  ) -> [FeatureDecl] {
    guard let items = r.sequence(node, "`features`") else { return [] }
    if items.isEmpty {
      r.diags.error(.emptyList, "`features` is empty", at: node.span, help: "list at least one input column")
      return []
    }
    var out: [FeatureDecl] = []
    var seen: [String: Span] = [:]
    for item in items {
      guard let m = r.mapping(item, "a feature", allowed: featureKeys, required: SpecKeys.feature.required) else {
        continue
      }
      guard let nameNode = m.value("name"), let name = r.string(nameNode, "the feature's `name`") else { continue }
      guard r.checkName(name, nameNode.span, "feature") else { continue }
      if let first = seen[name] {
        r.diags.error(
          .duplicateName, "feature `\(name)` is defined twice", at: nameNode.span,
          help: "give each feature a distinct name; use `column:` to read the same column twice",
          notes: ["first defined at \(first.location)"])
        continue
      }
      seen[name] = nameNode.span
      let what = "feature `\(name)`"
      let column =
        m.value("column").flatMap { n in r.string(n, "`column` of \(what)").map { Located($0, n.span) } }
        ?? Located(name, nameNode.span)
      guard let kindNode = m.value("kind"), let kind = r.choice(kindNode, "feature kind", FeatureKind.self) else {
        continue
      }
      var dim = 0
      var vocab = VocabularyDecl.learned(minCount: 1)
      var normalize = NormalizeKind.none
      var shares: Located<String>? = nil
      var multi: MultiDecl? = nil
      switch kind {
      case .sparse:
        if let p = m.pair("normalize") {
          r.diags.error(
            .conflictingKeys, "`normalize` applies to dense features, and \(what) is sparse", at: p.key.span,
            help: "remove `normalize`, or make the feature `kind: dense`")
        }
        if let n = m.value("embedding") {
          shares = r.string(n, "`embedding` of \(what)").map { Located($0, n.span) }
          if let p = m.pair("vocabulary") {
            r.diags.error(
              .conflictingKeys, "\(what) reads through another feature's table and takes its vocabulary",
              at: p.key.span, help: "remove `vocabulary`; the vocabulary is fitted on both features' columns")
          }
        }
        if let n = m.value("embedding_dim") {
          dim = r.int(n, "`embedding_dim` of \(what)", in: 1...4096) ?? 0
        } else if shares == nil && !m.misspelled("embedding_dim", allowed: featureKeys) {
          r.diags.error(
            .missingKey, "sparse \(what) is missing the required key `embedding_dim`", at: r.keySpan(item),
            help: "add `embedding_dim: 4` (the width of its embedding)")
        }
        if let n = m.value("vocabulary") { vocab = decodeVocabulary(n, what, &r) ?? vocab }
        if let n = m.value("multi") { multi = decodeMulti(n, what, delimiter: delimiter, &r) }
      case .dense:
        for key in ["embedding_dim", "embedding", "vocabulary", "multi"] {
          if let p = m.pair(key) {
            r.diags.error(
              .conflictingKeys, "`\(key)` applies to sparse features, and \(what) is dense", at: p.key.span,
              help: "remove `\(key)`, or make the feature `kind: sparse`")
          }
        }
        if let n = m.value("normalize") {
          normalize = r.choice(n, "normalisation", NormalizeKind.self) ?? normalize
        }
      }
      let missing =
        m.value("missing").flatMap { r.stringList($0, "`missing` of \(what)", allowScalar: true) }?.map(\.value)
        ?? defaultMissing
      var decl = FeatureDecl(
        name: Located(name, nameNode.span), column: column, kind: kind, embeddingDim: dim, vocabulary: vocab,
        normalize: normalize, missing: missing, span: r.keySpan(item))
      decl.sharesTable = shares
      decl.embeddingDimSpan = m.value("embedding_dim")?.span
      decl.multi = multi
      out.append(decl)
    }
    return out
  }

  /// `multi: {separator: "|", max_length: N, pooling: sum | mean | max}`: `max_length` required
  /// (1–1024), `separator` one byte other than the file's delimiter or a quote (`|` when not
  /// given), `pooling` `mean` when not given (DeepCTR's default combiner).
  static func decodeMulti(_ node: YAMLNode, _ what: String, delimiter: String, _ r: inout Reader) -> MultiDecl? {
    guard
      let m = r.mapping(
        node, "`multi` of \(what)", allowed: SpecKeys.multi.allowed, required: SpecKeys.multi.required)
    else { return nil }
    var separator = Located("|", node.span)
    if let n = m.value("separator"), let s = r.string(n, "`separator` of \(what)") {
      guard s.utf8.count == 1, s != delimiter, s != "\"", s != "\n", s != "\r" else {
        r.diags.error(
          .invalidValue,
          "`separator` of \(what) must be one character other than the file's delimiter `\(delimiter)`, a quote or a line break, found `\(s)`",
          at: n.span, help: "e.g. `separator: \"|\"` for cells such as `Action|Comedy`")
        return nil
      }
      separator = Located(s, n.span)
    }
    if m.value("separator") == nil && delimiter == "|" {
      r.diags.error(
        .conflictingKeys,
        "\(what) splits its cells at `|` when no `separator` is given, and `|` is the file's delimiter",
        at: r.keySpan(node), help: "give `separator:` another character, e.g. `separator: \";\"`")
      return nil
    }
    guard let n = m.value("max_length"), let maxLength = r.int(n, "`max_length` of \(what)", in: 1...1024) else {
      return nil
    }
    let pooling = m.value("pooling").flatMap { r.choice($0, "pooling", MultiDecl.Pooling.self) } ?? .mean
    return MultiDecl(separator: separator, maxLength: maxLength, pooling: pooling)
  }

  static func decodeVocabulary(_ node: YAMLNode, _ what: String, _ r: inout Reader) -> VocabularyDecl? {
    if case .scalar = node.kind {
      guard let s = r.string(node, "`vocabulary` of \(what)") else { return nil }
      if s == "learned" { return .learned(minCount: 1) }
      r.diags.error(
        .invalidValue, "unknown vocabulary `\(s)` for \(what)", at: node.span,
        help: "use `learned`, `{min_count: N}`, `{values: [...]}` or `{hash_buckets: N}`")
      return nil
    }
    guard
      let m = r.mapping(
        node, "`vocabulary` of \(what)", allowed: SpecKeys.vocabulary.allowed)
    else { return nil }
    // `min_count` and `max_size` together make one learned vocabulary.
    let kinds = Set(
      m.pairs.map(\.name).filter { ["min_count", "max_size", "values", "hash_buckets"].contains($0) }
        .map { $0 == "max_size" ? "min_count" : $0 })
    if kinds.count != 1 {
      r.diags.error(
        .conflictingKeys,
        "`vocabulary` of \(what) needs exactly one of `min_count` (with `max_size`), `values`, `hash_buckets`",
        at: r.keySpan(node))
      return nil
    }
    if m.value("min_count") != nil || m.value("max_size") != nil {
      let minCount = m.value("min_count").map { r.int($0, "`min_count`", in: 1...1_000_000_000) } ?? 1
      let maxSize = m.value("max_size").map { r.int($0, "`max_size`", in: 1...100_000_000) }
      guard let minCount, maxSize != .some(nil) else { return nil }
      return .learned(minCount: minCount, maxSize: maxSize ?? nil)
    }
    if let n = m.value("hash_buckets") {
      return r.int(n, "`hash_buckets`", in: 1...100_000_000).map { .hashed(buckets: $0) }
    }
    if let n = m.value("values"), let list = r.stringList(n, "`values`") {
      if list.isEmpty {
        r.diags.error(.emptyList, "`values` of \(what) is empty", at: n.span)
        return nil
      }
      var seen = Set<String>()
      for v in list where !seen.insert(v.value).inserted {
        r.diags.error(.duplicateName, "value `\(v.value)` is listed twice in the vocabulary of \(what)", at: v.span)
      }
      return .fixed(list.map(\.value))
    }
    return nil
  }

  // MARK: named sections

  /// A section that maps names to blocks (`tasks`, `experts`, `gates`, `towers`).
  static func decodeNamed<T>(
    _ node: YAMLNode, _ section: String, _ r: inout Reader,
    _ body: (Located<String>, YAMLNode, inout Reader) -> T?
  ) -> [T] {
    guard case .mapping(let pairs) = node.kind else {
      r.diags.error(
        .wrongType, "expected a mapping of names for `\(section)`, found \(node.kindDescription)", at: node.span,
        help: "write `\(section):` followed by `name: {...}` entries")
      return []
    }
    var out: [T] = []
    for p in pairs {
      let singular =
        ["tasks": "task", "experts": "expert group", "gates": "gate", "towers": "tower"][section] ?? section
      guard r.checkName(p.name, p.key.span, singular) else { continue }
      if let t = body(Located(p.name, p.key.span), p.value, &r) { out.append(t) }
    }
    return out
  }

  static func references(_ node: YAMLNode, _ what: String, _ r: inout Reader) -> [Reference]? {
    guard let list = r.stringList(node, what, allowScalar: true) else { return nil }
    if list.isEmpty {
      r.diags.error(.emptyList, "\(what) is empty", at: node.span, help: "name at least one input, e.g. `features`")
      return nil
    }
    return list.map { Reference(text: $0.value, span: $0.span) }
  }

  static func decodeTask(_ name: Located<String>, _ node: YAMLNode, _ r: inout Reader) -> TaskDecl? {
    let what = "task `\(name.value)`"
    guard
      let m = r.mapping(
        node, what,
        allowed: SpecKeys.task.allowed, required: SpecKeys.task.required)
    else { return nil }
    guard let typeNode = m.value("type"), let type = r.choice(typeNode, "task type", TaskKind.self) else {
      return nil
    }
    var label: LabelDecl?
    if let n = m.value("label"),
      let lm = r.mapping(
        n, "the label of \(what)", allowed: SpecKeys.label.allowed, required: SpecKeys.label.required)
    {
      let column = lm.value("column").flatMap { c in r.string(c, "the label column").map { Located($0, c.span) } }
      let (positive, threshold) = decodeRule(
        lm, "the label of \(what)", "list the values that mean 1", owner: what, &r)
      var classes: Located<[Located<String>]>?
      if let cn = lm.value("classes"), let list = r.stringList(cn, "`classes` of \(what)") {
        if list.count < 2 {
          r.diags.error(
            .outOfRange, "`classes` of \(what) needs at least two classes, found \(list.count)", at: cn.span,
            help: "list every class the label takes, e.g. `[Husband, Wife, Own-child]`")
        } else if list.count > 10_000 {
          r.diags.error(.outOfRange, "`classes` of \(what) lists \(list.count) classes, over 10000", at: cn.span)
        }
        var seen = Set<String>()
        for c in list where !seen.insert(c.value).inserted {
          r.diags.error(.duplicateName, "class `\(c.value)` is listed twice in \(what)", at: c.span)
        }
        classes = Located(list, cn.span)
      }
      let missing = lm.value("missing").flatMap { n in
        r.choice(n, "`label.missing`", LabelMissingPolicy.self).map { Located($0, n.span) }
      }
      let normalize = lm.value("normalize").flatMap { n in
        r.choice(n, "`label.normalize`", LabelNormalize.self).map { Located($0, n.span) }
      }
      if let column {
        label = LabelDecl(
          column: column, positive: positive, threshold: threshold, classes: classes, missing: missing,
          normalize: normalize, span: r.keySpan(n))
      }
    }
    var space: WhereDecl?
    if let n = m.value("where"),
      let wm = r.mapping(
        n, "`where` of \(what)", allowed: SpecKeys.sampleSpace.allowed, required: SpecKeys.sampleSpace.required)
    {
      let column = wm.value("column").flatMap { c in r.string(c, "the `where` column").map { Located($0, c.span) } }
      let (positive, threshold) = decodeRule(
        wm, "`where` of \(what)", "list the values of the rows it keeps", owner: "`where` of \(what)", &r)
      if positive == nil && threshold == nil && !wm.has("positive") {
        r.diags.error(
          .missingKey, "`where` of \(what) needs a rule", at: r.keySpan(n),
          help: "add `positive: [values]` (the rows it keeps) or `threshold: number` (the rows above it)")
      }
      if let column { space = WhereDecl(column: column, positive: positive, threshold: threshold, span: r.keySpan(n)) }
    }
    let weight = m.value("loss_weight").flatMap { r.double($0, "`loss_weight` of \(what)", in: 0...1e6) } ?? 1
    let positiveWeight = m.value("positive_weight").flatMap { n in
      r.double(n, "`positive_weight` of \(what)", in: 0...1e6, openLow: true).map { Located($0, n.span) }
    }
    let tower = m.value("tower").flatMap { n in r.string(n, "`tower` of \(what)").map { Located($0, n.span) } }
    var product: Located<[Located<String>]>?
    if let n = m.value("output"),
      let om = r.mapping(
        n, "`output` of \(what)", allowed: SpecKeys.output.allowed, required: SpecKeys.output.required),
      let pn = om.value("product"), let list = r.stringList(pn, "`output.product` of \(what)")
    {
      if list.count < 2 {
        r.diags.error(
          .outOfRange, "`output.product` of \(what) needs at least two tasks, found \(list.count)", at: pn.span,
          help: "list the tasks whose probabilities multiply, e.g. `[ctr, cvr]`")
      }
      product = Located(list, pn.span)
    }
    var task = TaskDecl(
      name: name, type: Located(type, typeNode.span), label: label, lossWeight: weight, tower: tower,
      product: product, where: space, positiveWeight: positiveWeight, span: name.span)
    task.calibration = m.value("calibration").flatMap { n in
      r.double(n, "`calibration` of \(what)", in: 0...1e6).map { Located($0, n.span) }
    }
    return task
  }

  /// `positive: [values]` or `threshold: number` of a label or a `where`.
  static func decodeRule(
    _ m: Reader.Mapping, _ what: String, _ positiveHelp: String, owner: String, _ r: inout Reader
  ) -> (
    [Located<String>]?, Double?
  ) {
    let positive = m.value("positive").flatMap { r.stringList($0, "`positive`", allowScalar: true) }
    let threshold = m.value("threshold").flatMap {
      r.double($0, "`threshold`", in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude)
    }
    if m.has("positive") && m.has("threshold") {
      r.diags.error(
        .conflictingKeys, "\(what) has both `positive` and `threshold`", at: m.pair("threshold")!.key.span,
        help: "keep one rule: `positive: [values]` or `threshold: number`")
    }
    if let p = m.value("positive"), positive?.isEmpty == true {
      r.diags.error(.emptyList, "`positive` of \(owner) is empty", at: p.span, help: positiveHelp)
    }
    return (positive, threshold)
  }

  static func decodeExpert(_ name: Located<String>, _ node: YAMLNode, _ r: inout Reader) -> ExpertDecl? {
    let what = "expert group `\(name.value)`"
    guard
      let m = r.mapping(
        node, what, allowed: SpecKeys.expert.allowed, required: SpecKeys.expert.required)
    else { return nil }
    let countNode = m.value("count")
    let count = countNode.flatMap { r.int($0, "`count` of \(what)", in: 1...1024) }
    let input = m.value("input").flatMap { references($0, "`input` of \(what)", &r) }
    let units = m.value("units").flatMap { n in decodeUnits(n, what, &r).map { Located($0, n.span) } }
    let act = m.value("activation").flatMap { decodeActivation($0, what, &r) } ?? .relu
    guard let count, let countNode, let input, let units else { return nil }
    var e = ExpertDecl(
      name: name, count: Located(count, countNode.span), input: input, units: units, activation: act, span: name.span)
    e.dropout = decodeDropout(m, what, &r)
    e.batchNorm = m.value("batch_norm").flatMap { r.bool($0, "`batch_norm` of \(what)") } ?? false
    return e
  }

  /// `activation: NAME`, or `activation: {type: leaky_relu, slope: S}` with S in [0, 1].
  static func decodeActivation(_ node: YAMLNode, _ what: String, _ r: inout Reader) -> ActivationKind? {
    guard case .mapping = node.kind else {
      return r.choice(node, "activation", ActivationName.self).map { ActivationKind($0) }
    }
    guard
      let m = r.mapping(
        node, "`activation` of \(what)", allowed: SpecKeys.activation.allowed, required: SpecKeys.activation.required),
      let name = m.value("type").flatMap({ r.choice($0, "activation", ActivationName.self) })
    else { return nil }
    guard let slopeNode = m.value("slope") else { return ActivationKind(name) }
    guard name == .leakyRelu else {
      r.diags.error(
        .invalidValue, "`slope` is a setting of `leaky_relu`, not of `\(name.rawValue)`", at: m.pair("slope")!.key.span,
        help: name == .prelu
          ? "`prelu` learns its slopes (one per unit, starting at 0.25); remove `slope`"
          : "remove `slope`, or use `type: leaky_relu`")
      return nil
    }
    guard let slope = r.double(slopeNode, "`slope` of `leaky_relu`", in: 0...1) else { return nil }
    return ActivationKind(.leakyRelu, slope: slope)
  }

  /// `dropout: P` of an MLP block: P in [0, 1).
  static func decodeDropout(_ m: Reader.Mapping, _ what: String, _ r: inout Reader) -> Double {
    guard let n = m.value("dropout") else { return 0 }
    guard let p = r.double(n, "`dropout` of \(what)", in: 0...1) else { return 0 }
    if p >= 1 {
      r.diags.error(
        .outOfRange, "`dropout` of \(what) must be below 1, found \(p)", at: n.span,
        help: "the fraction of units dropped while training, e.g. `0.1`")
      return 0
    }
    return p
  }

  static func decodeUnits(_ n: YAMLNode, _ what: String, _ r: inout Reader, allowEmpty: Bool = false) -> [Int]? {
    guard let u = r.intList(n, "`units` of \(what)", in: 1...65536) else { return nil }
    if u.isEmpty && !allowEmpty {
      r.diags.error(
        .emptyList, "`units` of \(what) is empty", at: n.span, help: "give the layer widths, e.g. `[32, 32]`")
      return nil
    }
    return u
  }

  static func decodeGate(_ name: Located<String>, _ node: YAMLNode, _ r: inout Reader) -> GateDecl? {
    let what = "gate `\(name.value)`"
    guard
      let m = r.mapping(
        node, what, allowed: SpecKeys.gate.allowed, required: SpecKeys.gate.required)
    else { return nil }
    let input = m.value("input").flatMap { references($0, "`input` of \(what)", &r) }
    var experts: [Located<String>]?
    if let n = m.value("experts"), let list = r.stringList(n, "`experts` of \(what)", allowScalar: true) {
      if list.isEmpty {
        r.diags.error(.emptyList, "`experts` of \(what) is empty", at: n.span, help: "name the expert groups it mixes")
      } else {
        experts = list
      }
    }
    var hidden: [Int] = []
    if let n = m.value("units") { hidden = r.intList(n, "`units` of \(what)", in: 1...65536) ?? [] }
    let act = m.value("activation").flatMap { decodeActivation($0, what, &r) } ?? .relu
    guard let input, let experts else { return nil }
    var g = GateDecl(name: name, input: input, experts: experts, units: hidden, activation: act, span: name.span)
    g.dropout = decodeDropout(m, what, &r)
    g.batchNorm = m.value("batch_norm").flatMap { r.bool($0, "`batch_norm` of \(what)") } ?? false
    g.bias = m.value("bias").flatMap { r.bool($0, "`bias` of \(what)") } ?? false
    for (key, on) in [("dropout", g.dropout > 0), ("batch_norm", g.batchNorm)] where on && hidden.isEmpty {
      r.diags.error(
        .conflictingKeys, "`\(key)` of \(what) has no hidden layer to act on", at: m.pair(key)!.key.span,
        help: "it acts on a gate's hidden layers (`units`); this gate is one linear layer")
    }
    return g
  }

  static func decodeTower(_ name: Located<String>, _ node: YAMLNode, _ r: inout Reader) -> TowerDecl? {
    let what = "tower `\(name.value)`"
    guard
      let m = r.mapping(
        node, what, allowed: SpecKeys.tower.allowed, required: SpecKeys.tower.required)
    else {
      return nil
    }
    let input = m.value("input").flatMap { references($0, "`input` of \(what)", &r) }
    // `units: []`: no hidden layer, the logit straight from the input (as a peer's empty tower).
    let units = m.value("units").flatMap { n in
      decodeUnits(n, what, &r, allowEmpty: true).map { Located($0, n.span) }
    }
    let act = m.value("activation").flatMap { decodeActivation($0, what, &r) } ?? .relu
    guard let input, let units else { return nil }
    var t = TowerDecl(name: name, input: input, units: units, activation: act, span: name.span)
    t.dropout = decodeDropout(m, what, &r)
    t.batchNorm = m.value("batch_norm").flatMap { r.bool($0, "`batch_norm` of \(what)") } ?? false
    if let n = m.value("transfer"),
      let tm = r.mapping(
        n, "`transfer` of \(what)", allowed: SpecKeys.transfer.allowed, required: SpecKeys.transfer.required),
      let fn = tm.value("from"), let from = r.string(fn, "`transfer.from` of \(what)")
    {
      let k = tm.value("units").flatMap { r.int($0, "`transfer.units` of \(what)", in: 1...65536) }
      t.transfer = TransferDecl(from: Located(from, fn.span), units: k, span: r.keySpan(n))
    }
    for (key, on) in [("dropout", t.dropout > 0), ("batch_norm", t.batchNorm)] where on && units.value.isEmpty {
      r.diags.error(
        .conflictingKeys, "`\(key)` of \(what) has no hidden layer to act on", at: m.pair(key)!.key.span,
        help: "it acts on a tower's hidden layers (`units`); this tower is its logit layer alone")
    }
    return t
  }

  // MARK: training

  static func decodeTraining(_ node: YAMLNode, _ r: inout Reader) -> TrainingDecl {
    var t = TrainingDecl()
    guard
      let m = r.mapping(
        node, "`training`", allowed: SpecKeys.training.allowed)
    else { return t }
    if let n = m.value("optimizer") { decodeOptimizer(n, &t, &r) }
    if let n = m.value("batch_size") { t.batchSize = r.int(n, "`batch_size`", in: 1...1_000_000) ?? t.batchSize }
    if let n = m.value("epochs") { t.epochs = r.int(n, "`epochs`", in: 1...100_000) ?? t.epochs }
    if let n = m.value("seed") { t.seed = r.int(n, "`seed`", in: 0...Int.max) ?? t.seed }
    if let n = m.value("clip_norm") { t.clipNorm = r.double(n, "`clip_norm`", in: 0...1e9) ?? t.clipNorm }
    if let n = m.value("loss_balancing"),
      let lm = r.mapping(
        n, "`training.loss_balancing`", allowed: SpecKeys.lossBalancing.allowed,
        required: SpecKeys.lossBalancing.required),
      let mn = lm.value("method")
    {
      t.lossBalancing = r.choice(mn, "loss-balancing method", LossBalancingMethod.self) ?? .none
      if let a = lm.pairs.first(where: { $0.name == "alpha" }) {
        if t.lossBalancing == .gradnorm {
          t.gradnormAlpha = r.double(a.value, "`alpha`", in: 0...10) ?? t.gradnormAlpha
        } else {
          r.diags.error(
            .conflictingKeys, "`alpha` does not apply to the `\(t.lossBalancing.rawValue)` method", at: a.key.span,
            help: "`alpha` is GradNorm's; remove it, or use `method: gradnorm`")
        }
      }
    }
    if let n = m.value("early_stopping"),
      let em = r.mapping(
        n, "`training.early_stopping`", allowed: SpecKeys.earlyStopping.allowed,
        required: SpecKeys.earlyStopping.required)
    {
      let monitor = em.value("monitor").flatMap { mn in r.string(mn, "`monitor`").map { Located($0, mn.span) } }
      let patience = em.value("patience").flatMap { r.int($0, "`patience`", in: 0...100_000) } ?? 10
      let minDelta = em.value("min_delta").flatMap { r.double($0, "`min_delta`", in: 0...1e9) } ?? 0
      if let monitor {
        t.earlyStopping = EarlyStoppingDecl(
          monitor: monitor, patience: patience, minDelta: minDelta, span: r.keySpan(n))
      }
    }
    if let n = m.value("gradient_cosine") { t.gradientCosine = r.bool(n, "`gradient_cosine`") ?? false }
    if let n = m.value("schedule"),
      let sm = r.mapping(
        n, "`training.schedule`", allowed: SpecKeys.schedule.allowed)
    {
      var sc = ScheduleDecl()
      if let v = sm.value("warmup_steps") { sc.warmupSteps = r.int(v, "`warmup_steps`", in: 0...1_000_000_000) ?? 0 }
      if let v = sm.value("decay") { sc.decay = r.choice(v, "`schedule.decay`", ScheduleDecay.self) ?? .none }
      if let v = sm.value("decay_steps") {
        sc.decaySteps = r.int(v, "`decay_steps`", in: 1...1_000_000_000) ?? sc.decaySteps
      }
      if let v = sm.value("decay_rate") {
        sc.decayRate = r.double(v, "`decay_rate`", in: 0...1, openLow: true) ?? sc.decayRate
      }
      if let v = sm.value("min_rate") { sc.minRate = r.double(v, "`min_rate`", in: 0...1) ?? sc.minRate }
      // A key that the chosen decay does not read is a mistake, located.
      let reads: [ScheduleDecay: [String]] = [
        .none: [], .cosine: ["decay_steps", "min_rate"], .step: ["decay_steps", "decay_rate"],
        .exponential: ["decay_steps", "decay_rate"],
      ]
      for p in sm.pairs where ["decay_steps", "decay_rate", "min_rate"].contains(p.name) {
        if !(reads[sc.decay] ?? []).contains(p.name) {
          r.diags.error(
            .conflictingKeys, "`\(p.name)` does not apply to `decay: \(sc.decay.rawValue)`", at: p.key.span,
            help:
              "`cosine` reads `decay_steps` and `min_rate`; `step` and `exponential` read `decay_steps` and `decay_rate`"
          )
        }
      }
      t.schedule = sc
    }
    if let n = m.value("l2"), let lm = r.mapping(n, "`training.l2`", allowed: SpecKeys.l2.allowed) {
      if let v = lm.value("embeddings") { t.l2Embeddings = r.double(v, "`l2.embeddings`", in: 0...1) ?? 0 }
      if let v = lm.value("weights") { t.l2Weights = r.double(v, "`l2.weights`", in: 0...1) ?? 0 }
    }
    return t
  }

  static func decodeOptimizer(_ node: YAMLNode, _ t: inout TrainingDecl, _ r: inout Reader) {
    if case .scalar = node.kind {
      if let k = r.choice(node, "optimizer", OptimizerType.self) { t.optimizer = k }
      return
    }
    let all = SpecKeys.optimizer.allowed
    guard let m = r.mapping(node, "`training.optimizer`", allowed: all, required: SpecKeys.optimizer.required)
    else { return }
    guard let tn = m.value("type"), let kind = r.choice(tn, "optimizer", OptimizerType.self) else { return }
    t.optimizer = kind
    let own: [String]
    switch kind {
    case .adam: own = ["beta1", "beta2", "epsilon"]
    case .adamw: own = ["beta1", "beta2", "epsilon", "weight_decay"]
    case .adagrad: own = ["initial_accumulator", "epsilon"]
    case .sgd: own = ["momentum"]
    }
    for p in m.pairs where !["type", "learning_rate"].contains(p.name) && all.contains(p.name) && !own.contains(p.name)
    {
      r.diags.error(
        .conflictingKeys, "`\(p.name)` does not apply to the `\(kind.rawValue)` optimizer", at: p.key.span,
        help: "`\(kind.rawValue)` takes " + (["learning_rate"] + own).map { "`\($0)`" }.joined(separator: ", "))
    }
    if let n = m.value("learning_rate") {
      t.learningRate = r.double(n, "`learning_rate`", in: 0...10, openLow: true) ?? t.learningRate
    }
    if let n = m.value("beta1") { t.beta1 = r.double(n, "`beta1`", in: 0...0.999999) ?? t.beta1 }
    if let n = m.value("beta2") { t.beta2 = r.double(n, "`beta2`", in: 0...0.999999) ?? t.beta2 }
    if let n = m.value("epsilon") { t.epsilon = r.double(n, "`epsilon`", in: 0...1, openLow: true) ?? t.epsilon }
    if let n = m.value("momentum") { t.momentum = r.double(n, "`momentum`", in: 0...0.999999) ?? t.momentum }
    if let n = m.value("initial_accumulator") {
      t.initialAccumulator = r.double(n, "`initial_accumulator`", in: 0...1e6) ?? t.initialAccumulator
    }
    if let n = m.value("weight_decay") { t.weightDecay = r.double(n, "`weight_decay`", in: 0...1) ?? t.weightDecay }
  }
}
