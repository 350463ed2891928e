import MTLDiagnostics
import MTLYAML

/// Typed reading of YAML nodes with located errors. Every failed read records a diagnostic and
/// returns nil, so decoding goes on and all errors of the stage are reported at once.
struct Reader {
  var diags = Diagnostics()

  // MARK: mappings

  /// A mapping being read: tracks which keys were used so unknown ones can be reported.
  struct Mapping {
    let node: YAMLNode
    let pairs: [YAMLPair]
    let what: String
    func pair(_ key: String) -> YAMLPair? { pairs.first { $0.name == key } }
    func value(_ key: String) -> YAMLNode? { pair(key)?.value }
    func has(_ key: String) -> Bool { pair(key) != nil }
    /// Whether an unknown key here looks like a misspelling of `key` (already reported as such,
    /// so a "missing `key`" error would only repeat it).
    func misspelled(_ key: String, allowed: [String]) -> Bool {
      if allowed == self.allowed { return suggested.contains(key) }
      return pairs.contains { !allowed.contains($0.name) && Suggest.closest(to: $0.name, among: allowed) == key }
    }
    let allowed: [String]
    /// The allowed keys that unknown keys here were taken for (computed once, when reporting them).
    var suggested: Set<String> = []
  }

  /// Reads `node` as a mapping whose keys must be among `allowed`; reports unknown keys with a
  /// did-you-mean and missing `required` keys at the mapping.
  mutating func mapping(_ node: YAMLNode, _ what: String, allowed: [String], required: [String] = [])
    -> Mapping?
  {
    guard case .mapping(let pairs) = node.kind else {
      diags.error(.wrongType, "expected a mapping for \(what), found \(node.kindDescription)", at: node.span)
      return nil
    }
    var suggested: Set<String> = []
    for p in pairs where !allowed.contains(p.name) {
      if p.name == "<<" {
        diags.error(
          .unknownKey, "unknown key `<<` in \(what)", at: p.key.span,
          help: "YAML merge keys are not supported; write the keys out (an alias `*name` can stand for a whole value)")
        continue
      }
      let closest = Suggest.closest(to: p.name, among: allowed)
      if let closest { suggested.insert(closest) }
      let help =
        closest.map { "did you mean `\($0)`?" }
        ?? "allowed keys here: " + allowed.map { "`\($0)`" }.joined(separator: ", ")
      diags.error(.unknownKey, "unknown key `\(p.name)` in \(what)", at: p.key.span, help: help)
    }
    let m = Mapping(node: node, pairs: pairs, what: what, allowed: allowed, suggested: suggested)
    for r in required where !m.has(r) && !m.misspelled(r, allowed: allowed) && !m.has("<<") {
      diags.error(
        .missingKey, "\(what) is missing the required key `\(r)`", at: keySpan(node),
        help: "add `\(r):`; see docs/spec.md")
    }
    return m
  }

  /// A short span for a whole mapping: its first line (rendering the whole block is noise).
  func keySpan(_ node: YAMLNode) -> Span {
    var s = node.span
    if s.end.line != s.start.line {
      if case .mapping(let pairs) = node.kind, let first = pairs.first {
        s = first.key.span
      } else {
        s.end = s.start
      }
    }
    return s
  }

  // MARK: scalars

  func scalar(_ node: YAMLNode) -> (String, plain: Bool)? {
    if case .scalar(let s, let plain) = node.kind { return (s, plain) }
    return nil
  }

  mutating func string(_ node: YAMLNode, _ what: String) -> String? {
    guard let (s, plain) = scalar(node), !(plain && isNull(s)) else {
      diags.error(.wrongType, "expected a string for \(what), found \(node.kindDescription)", at: node.span)
      return nil
    }
    if s.unicodeScalars.contains(where: { $0.value == 0 }) {
      diags.error(.invalidValue, "\(what) contains a NUL character", at: node.span)
      return nil
    }
    return s
  }

  /// A YAML 1.2 core-schema boolean (`true`/`false`, any case of the first letter) written plainly.
  mutating func bool(_ node: YAMLNode, _ what: String) -> Bool? {
    if let (s, plain) = scalar(node), plain {
      if ["true", "True", "TRUE"].contains(s) { return true }
      if ["false", "False", "FALSE"].contains(s) { return false }
    }
    diags.error(
      .wrongType, "expected `true` or `false` for \(what), found \(node.kindDescription)", at: node.span,
      help: "write `true` or `false`")
    return nil
  }

  func isNull(_ s: String) -> Bool { s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL" }

  mutating func int(_ node: YAMLNode, _ what: String, in range: ClosedRange<Int>) -> Int? {
    guard let (s, plain) = scalar(node), plain, let v = Int(s.replacingUnderscores) else {
      if let (s, plain) = scalar(node), plain, isIntegerText(s) {
        diags.error(
          .outOfRange, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(s)", at: node.span)
        return nil
      }
      diags.error(.wrongType, "expected an integer for \(what), found \(node.kindDescription)", at: node.span)
      return nil
    }
    guard range.contains(v) else {
      diags.error(
        .outOfRange, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(v)",
        at: node.span)
      return nil
    }
    return v
  }

  mutating func double(_ node: YAMLNode, _ what: String, in range: ClosedRange<Double>, openLow: Bool = false)
    -> Double?
  {
    guard let (s, plain) = scalar(node), plain, let v = yamlDouble(s) else {
      diags.error(.wrongType, "expected a number for \(what), found \(node.kindDescription)", at: node.span)
      return nil
    }
    let low = openLow ? v > range.lowerBound : v >= range.lowerBound
    guard v.isFinite && low && v <= range.upperBound else {
      let lo = openLow ? "greater than \(fmt(range.lowerBound))" : "at least \(fmt(range.lowerBound))"
      diags.error(
        .outOfRange, "\(what) must be \(lo) and at most \(fmt(range.upperBound)), found \(s)", at: node.span)
      return nil
    }
    return v
  }

  mutating func choice<E: RawRepresentable & CaseIterable>(_ node: YAMLNode, _ what: String, _: E.Type) -> E?
  where E.RawValue == String {
    guard let s = string(node, what) else { return nil }
    if let v = E(rawValue: s) { return v }
    let options = E.allCases.map(\.rawValue)
    let help =
      Suggest.closest(to: s, among: options).map { "did you mean `\($0)`?" }
      ?? "expected one of " + options.map { "`\($0)`" }.joined(separator: ", ")
    diags.error(.invalidValue, "unknown \(what) `\(s)`", at: node.span, help: help)
    return nil
  }

  /// A sequence; a single scalar is accepted as a one-element list when `allowScalar`.
  mutating func sequence(_ node: YAMLNode, _ what: String, allowScalar: Bool = false) -> [YAMLNode]? {
    switch node.kind {
    case .sequence(let items): return items
    case .scalar where allowScalar: return [node]
    default:
      diags.error(.wrongType, "expected a list for \(what), found \(node.kindDescription)", at: node.span)
      return nil
    }
  }

  mutating func stringList(_ node: YAMLNode, _ what: String, allowScalar: Bool = false) -> [Located<String>]? {
    if allowScalar, case .scalar = node.kind {
      return string(node, what).map { [Located($0, node.span)] }
    }
    guard let items = sequence(node, what, allowScalar: allowScalar) else { return nil }
    var out: [Located<String>] = []
    for item in items {
      if let s = string(item, "an entry of \(what)") { out.append(Located(s, item.span)) }
    }
    return out.count == items.count ? out : nil
  }

  mutating func intList(_ node: YAMLNode, _ what: String, in range: ClosedRange<Int>) -> [Int]? {
    guard let items = sequence(node, what) else { return nil }
    var out: [Int] = []
    for item in items {
      if let v = int(item, "an entry of \(what)", in: range) { out.append(v) }
    }
    return out.count == items.count ? out : nil
  }

  // MARK: names

  /// Names are letters, digits, `_` and `-`, starting with a letter or `_`.
  mutating func checkName(_ name: String, _ span: Span, _ what: String) -> Bool {
    let scalars = Array(name.unicodeScalars)
    func ok(_ c: Unicode.Scalar, first: Bool) -> Bool {
      let v = c.value
      let letter = (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 95
      let digit = v >= 48 && v <= 57
      return first ? letter : (letter || digit || v == 45)
    }
    if scalars.isEmpty || !ok(scalars[0], first: true) || !scalars.dropFirst().allSatisfy({ ok($0, first: false) })
      || scalars.count > 64
    {
      diags.error(
        .invalidName, "invalid \(what) name `\(name)`", at: span,
        help: "names start with a letter or `_` and hold letters, digits, `_` and `-` (at most 64)")
      return false
    }
    return true
  }
}

/// Digits with an optional sign: an integer, however large.
func isIntegerText(_ s: String) -> Bool {
  let t = s.replacingUnderscores
  let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
  return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
}

/// A YAML 1.1 float: Swift's syntax plus `.nan`, `.inf`, `-.inf` (any case).
func yamlDouble(_ s: String) -> Double? {
  switch s.lowercased() {
  case ".nan": return .nan
  case ".inf", "+.inf": return .infinity
  case "-.inf": return -.infinity
  default: return Double(s.replacingUnderscores)
  }
}

func fmt(_ v: Double) -> String {
  if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
  return String(v)
}

extension String {
  /// YAML 1.1 allows `1_000`; accept it in numbers.
  var replacingUnderscores: String { contains("_") ? split(separator: "_").joined() : self }
}
