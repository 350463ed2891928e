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
