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
/// distance (1 for short names, 2 for longer ones). Ordered by distance, then header order.
func similarNames(to name: String, in candidates: [String]) -> [String] {
  let target = Array(name.lowercased().unicodeScalars)
  let limit = target.count <= 4 ? 1 : 2
  var found: [(Int, Int, String)] = []
  for (i, c) in candidates.enumerated() {
    let d = editDistance(target, Array(c.lowercased().unicodeScalars))
    if d <= limit { found.append((d, i, c)) }
  }
  return found.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
}

/// Levenshtein distance.
func editDistance<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
  if a.isEmpty { return b.count }
  if b.isEmpty { return a.count }
  var prev = Array(0...b.count)
  var cur = [Int](repeating: 0, count: b.count + 1)
  for i in 1...a.count {
    cur[0] = i
    for j in 1...b.count {
      let cost = a[i - 1] == b[j - 1] ? 0 : 1
      cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    }
    swap(&prev, &cur)
  }
  return prev[b.count]
}
