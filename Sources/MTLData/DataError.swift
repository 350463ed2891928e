// Errors of the data stage: reading CSV files, fitting and applying the feature pipeline.

/// An error found in a data file, with where it is.
///
/// Rendering, one line, in the `file:line: error:` form that editors and CI parse:
///
///     data/adult.csv:12: error: column `age`: `abc` is not a number
///     data/adult.csv:7: error: expected 15 fields, got 14
///     data/adult.csv: error: the file is empty
///
/// `row` is the 1-based line number in the file where the record starts (the header is line 1;
/// a quoted field spanning lines makes later records start further down). `column` is the header
/// name of the field, when the error is about one field. Messages are lowercase without a
/// trailing period; names and offending text are in backticks.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
  public var path: String
  public var row: Int?
  public var column: String?
  public var message: String

  public init(path: String, row: Int? = nil, column: String? = nil, message: String) {
    self.path = path
    self.row = row
    self.column = column
    self.message = message
  }

  public var description: String {
    var s = path
    if let row { s += ":\(row)" }
    s += ": error: "
    if let column { s += "column `\(column)`: " }
    return s + message
  }
}

/// Shows at most `limit` bytes of a cell in a message, with invisible characters escaped.
func quoted(_ text: String, limit: Int = 40) -> String {
  var out = "`"
  var n = 0
  for ch in text.unicodeScalars {
    if n == limit {
      out += "..."
      break
    }
    switch ch {
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    case "`": out += "\\`"
    default: out.unicodeScalars.append(ch)
    }
    n += 1
  }
  return out + "`"
}

/// Names among `candidates` that look like `name`: equal ignoring case, or within a small edit
/// distance (none for names of 1 or 2 characters, 1 up to 5, else 2). Ordered by distance, then
/// header order.
func similarNames(to name: String, in candidates: [String]) -> [String] {
  let target = Array(name.lowercased().unicodeScalars)
  let limit = target.count <= 2 ? 0 : target.count <= 5 ? 1 : 2
  var found: [(Int, Int, String)] = []
  for (i, c) in candidates.enumerated() {
    let d = editDistance(target, Array(c.lowercased().unicodeScalars))
    if d <= limit { found.append((d, i, c)) }
  }
  return found.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of neighbours
/// (optimal string alignment), so that `agnet` is 1 from `agent`.
func editDistance<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
  if a.isEmpty { return b.count }
  if b.isEmpty { return a.count }
  var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
  for i in 0...a.count { d[i][0] = i }
  for j in 0...b.count { d[0][j] = j }
  for i in 1...a.count {
    for j in 1...b.count {
      let cost = a[i - 1] == b[j - 1] ? 0 : 1
      d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
        d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
      }
    }
  }
  return d[a.count][b.count]
}
