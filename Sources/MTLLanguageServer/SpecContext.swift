// What the cursor is on in a spec being edited: which mapping holds it (by indentation, so it
// works while the YAML is half-written and does not parse), whether it is on a key or a value,
// and the names the spec defines. Hover, completion and go-to-definition are built on it.

import Foundation
import MTLSpec

/// A spec's text, line by line, with LSP positions (0-based lines, UTF-16 columns) mapped to
/// Unicode-scalar columns, which the diagnostics use.
struct SpecText {
  let lines: [[Unicode.Scalar]]

  init(_ text: String) {
    lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
      var s = Array(line.unicodeScalars)
      if s.last == "\r" { s.removeLast() }
      return s
    }
  }

  func line(_ i: Int) -> [Unicode.Scalar] { i >= 0 && i < lines.count ? lines[i] : [] }

  /// The scalar column of UTF-16 offset `u` on line `i`.
  func column(line i: Int, utf16 u: Int) -> Int {
    var n = 0
    for (k, c) in line(i).enumerated() {
      if n >= u { return k }
      n += c.utf16.count
    }
    return line(i).count
  }

  /// The UTF-16 offset of scalar column `c` on line `i`.
  func utf16(line i: Int, column c: Int) -> Int {
    line(i).prefix(max(0, c)).reduce(0) { $0 + $1.utf16.count }
  }

  static func indent(_ l: [Unicode.Scalar]) -> Int { l.prefix { $0 == " " }.count }
  static func isBlank(_ l: [Unicode.Scalar]) -> Bool {
    let rest = l.drop { $0 == " " }
    return rest.isEmpty || rest.first == "#"
  }

  /// The key a block line starts with (after `- ` when it is a sequence item), or nil.
  static func key(of l: [Unicode.Scalar]) -> String? {
    var s = l.drop { $0 == " " }
    if s.first == "-" { s = s.dropFirst().drop { $0 == " " } }
    guard let colon = s.firstIndex(of: ":") else { return nil }
    let k = String(String.UnicodeScalarView(s[..<colon])).trimmingCharacters(in: CharacterSet(charactersIn: " \"'"))
    return k.isEmpty || k.contains(where: { "{[#,".contains($0) }) ? nil : k
  }

  /// The keys of the mappings around a line that starts at `indent`, outermost first; a sequence
  /// item is `[]`. Read from the indentation of the lines above, so a document that does not parse
  /// yet still has a context.
  func parents(line: Int, indent: Int) -> [String] {
    var out: [String] = []
    var at = indent
    var i = line - 1
    while i >= 0 && at > 0 {
      let l = lines[i]
      i -= 1
      if SpecText.isBlank(l) { continue }
      let d = SpecText.indent(l)
      let rest = l.dropFirst(d)
      if rest.first == "-" && rest.dropFirst().first == " " {
        // A sequence item: its mapping's keys sit at d + 2.
        let content = d + 2 + rest.dropFirst().prefix { $0 == " " }.count - 1
        if d < at && content <= at {
          out.insert("[]", at: 0)
          at = d
        }
        continue
      }
      if d < at {
        if let k = SpecText.key(of: l) { out.insert(k, at: 0) }
        at = d
      }
    }
    return out
  }

  /// Names defined under a top-level section (`experts`, `gates`, `towers`, `tasks`), in order.
  func names(in section: String) -> [(name: String, line: Int, column: Int)] {
    var out: [(String, Int, Int)] = []
    var inside = false
    var child: Int? = nil
    for (i, l) in lines.enumerated() {
      if SpecText.isBlank(l) { continue }
      let d = SpecText.indent(l)
      if d == 0 {
        inside = SpecText.key(of: l) == section
        child = nil
        continue
      }
      guard inside else { continue }
      if child == nil { child = d }
      if d == child, let k = SpecText.key(of: l) { out.append((k, i, d)) }
    }
    return out
  }

  /// Feature names: `name:` values of the items under `features`.
  func featureNames() -> [String] {
    var out: [String] = []
    var inside = false
    for l in lines {
      if SpecText.isBlank(l) { continue }
      if SpecText.indent(l) == 0 {
        inside = SpecText.key(of: l) == "features"
        continue
      }
      guard inside else { continue }
      let s = String(String.UnicodeScalarView(l))
      if let r = s.range(of: "name:") {
        let v = s[r.upperBound...].drop { $0 == " " }.prefix { !",}# ".contains($0) }
        if !v.isEmpty { out.append(String(v)) }
      }
    }
    return out
  }

  /// The `data.train` path as written (for the CSV's columns), or nil.
  func dataTrain() -> String? {
    var inside = false
    for l in lines {
      if SpecText.isBlank(l) { continue }
      if SpecText.indent(l) == 0 {
        inside = SpecText.key(of: l) == "data"
        let s = String(String.UnicodeScalarView(l))
        // `data: {train: x, ...}` on one line.
        if inside, let r = s.range(of: "train:") {
          return String(s[r.upperBound...].drop { $0 == " " }.prefix { !",}# ".contains($0) })
        }
        continue
      }
      if inside && SpecText.key(of: l) == "train" {
        let s = String(String.UnicodeScalarView(l))
        let v = s[s.range(of: "train:")!.upperBound...].drop { $0 == " " }.prefix { !"# ".contains($0) }
        return String(v).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
      }
    }
    return nil
  }
}

/// Where the cursor is.
struct CursorContext {
  /// The mapping's keys, outermost first (`[]` for a sequence item).
  var path: [String]
  /// On a key (typing one, or hovering it): its text so far / whole.
  var key: String?
  /// On a value: the key it belongs to.
  var valueOf: String?
  /// The word under the cursor, with dots (`experts.shared`).
  var word: String
  /// The word's start and end columns (scalars).
  var wordRange: Range<Int>

  init(_ t: SpecText, line: Int, column: Int) {
    let l = t.line(line)
    let c = min(column, l.count)
    func isWord(_ s: Unicode.Scalar) -> Bool {
      s.properties.isAlphabetic || ("0"..."9").contains(s) || "_-.".unicodeScalars.contains(s)
    }
    var lo = c
    while lo > 0 && isWord(l[lo - 1]) { lo -= 1 }
    var hi = c
    while hi < l.count && isWord(l[hi]) { hi += 1 }
    word = String(String.UnicodeScalarView(l[lo..<hi]))
    wordRange = lo..<hi
    let before = Array(l[0..<c])
    let indent = SpecText.indent(l)
    var path = t.parents(line: line, indent: SpecText.isBlank(l) ? c : indent)
    // A sequence item opened on this line: its keys belong to the item.
    let trimmed = l.dropFirst(indent)
    if trimmed.first == "-" && c > indent { path.append("[]") }
    // Inside `{...}` on this line: the mapping of the line's key (or of the item itself).
    var depth = 0
    var open: Int? = nil
    for (k, s) in before.enumerated() {
      if s == "{" {
        if depth == 0 { open = k }
        depth += 1
      } else if s == "}" {
        depth -= 1
        if depth == 0 { open = nil }
      }
    }
    var segment = before
    if let open {
      // `income_1: {count: 8, ...}`: the block `income_1`; `- {name: a, ...}`: the item, already there.
      if let k = SpecText.key(of: Array(l[0..<open])) { path.append(k) }
      let after = before[(open + 1)...]
      let cut = after.lastIndex(where: { $0 == "," || $0 == "{" }).map { $0 + 1 } ?? (open + 1)
      segment = Array(before[cut...])
    } else {
      var s = before[indent...]
      if s.first == "-" { s = s.dropFirst() }
      segment = Array(s)
    }
    if let colon = segment.firstIndex(of: ":") {
      let k = String(String.UnicodeScalarView(segment[..<colon])).trimmingCharacters(
        in: CharacterSet(charactersIn: " \"'"))
      key = nil
      valueOf = k
    } else {
      key = String(String.UnicodeScalarView(segment)).trimmingCharacters(in: CharacterSet(charactersIn: " "))
      valueOf = nil
    }
    self.path = path
  }

  /// The top-level section and the keys below its block (`tasks.income.label` → ("tasks", ["label"])).
  var section: (name: String, rest: [String])? {
    guard let first = path.first else { return nil }
    switch first {
    case "tasks", "experts", "gates", "towers", "features": return (first, Array(path.dropFirst(2)))
    default: return (first, Array(path.dropFirst()))
    }
  }

  /// The SpecKeys table (and its name, as `SpecSchema` names kinds) of the mapping.
  var table: (SpecKeys.Table, String)? {
    guard let (s, rest) = section else { return (SpecKeys.top, "top") }
    if ["tasks", "experts", "gates", "towers", "features"].contains(s) && path.count < 2 { return nil }
    let sub = rest.last
    switch (s, sub) {
    case ("data", nil): return (SpecKeys.data, "data")
    case ("features", nil): return (SpecKeys.feature, "feature")
    case ("features", "multi"): return (SpecKeys.multi, "multi")
    case ("features", "vocabulary"): return (SpecKeys.vocabulary, "vocabulary")
    case ("tasks", nil): return (SpecKeys.task, "task")
    case ("tasks", "label"): return (SpecKeys.label, "label")
    case ("tasks", "where"): return (SpecKeys.sampleSpace, "where")
    case ("tasks", "output"): return (SpecKeys.output, "output")
    case ("experts", nil): return (SpecKeys.expert, "expert")
    case ("gates", nil): return (SpecKeys.gate, "gate")
    case ("towers", nil): return (SpecKeys.tower, "tower")
    case ("towers", "transfer"): return (SpecKeys.transfer, "transfer")
    case (_, "activation"): return (SpecKeys.activation, "activation")
    case ("training", nil): return (SpecKeys.training, "training")
    case ("training", "optimizer"): return (SpecKeys.optimizer, "optimizer")
    case ("training", "loss_balancing"): return (SpecKeys.lossBalancing, "loss_balancing")
    case ("training", "early_stopping"): return (SpecKeys.earlyStopping, "early_stopping")
    case ("training", "schedule"): return (SpecKeys.schedule, "schedule")
    case ("training", "l2"): return (SpecKeys.l2, "l2")
    default: return nil
    }
  }
}
