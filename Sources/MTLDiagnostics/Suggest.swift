/// "Did you mean": the closest candidate within a small edit distance.
public enum Suggest {
  /// Edit distance over Unicode scalars, case-insensitive, where swapping two adjacent
  /// characters counts as one edit (optimal string alignment), the commonest typo.
  public static func distance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().unicodeScalars)
    let y = Array(b.lowercased().unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    // Three rolling rows of the matrix (the transposition looks two rows back).
    var before = [Int](repeating: 0, count: y.count + 1)
    var prev = Array(0...y.count)
    var cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
      cur[0] = i
      for j in 1...y.count {
        let cost = x[i - 1] == y[j - 1] ? 0 : 1
        cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
          cur[j] = min(cur[j], before[j - 2] + 1)
        }
      }
      (before, prev, cur) = (prev, cur, before)
    }
    return prev[y.count]
  }

  /// The one policy of mtlc's "did you mean" (spec keys, references, data columns, label
  /// values): a candidate is similar when it is within max(1, len/3) edits, case ignored (a name
  /// of one or two characters only matches up to case: one edit makes any short name another).
  /// The best candidate (ties: the first in `candidates`), or nil.
  public static func closest(to name: String, among candidates: [String]) -> String? {
    similar(to: name, among: candidates).first
  }

  /// Every similar candidate, closest first (ties in `candidates` order).
  public static func similar(to name: String, among candidates: [String]) -> [String] {
    let n = name.lowercased().unicodeScalars.count
    let limit = n <= 2 ? 0 : max(1, n / 3)
    var found: [(d: Int, i: Int, c: String)] = []
    // The distance is at least the difference in (lowercased) length: skip those, and with
    // them a huge name's long distance computations.
    for (i, c) in candidates.enumerated() where c != name && abs(c.lowercased().unicodeScalars.count - n) <= limit {
      let d = distance(name, c)
      if d <= limit { found.append((d, i, c)) }
    }
    return found.sorted { ($0.d, $0.i) < ($1.d, $1.i) }.map(\.c)
  }

  /// Help for an unknown name: the similar one when there is one ("a group with a similar name
  /// exists: `shared`"), else what is defined ("the groups defined: `a`, `b`"), so a reader
  /// never has to open the spec to see the choices.
  public static func help(for name: String, among candidates: [String], what: String = "name") -> String? {
    if let c = closest(to: name, among: candidates) { return "a \(what) with a similar name exists: `\(c)`" }
    if candidates.isEmpty { return "no \(what) is defined" }
    let shown = candidates.prefix(20).map { "`\($0)`" }.joined(separator: ", ")
    return "the \(what)s defined: \(shown)\(candidates.count > 20 ? ", ..." : "")"
  }
}
