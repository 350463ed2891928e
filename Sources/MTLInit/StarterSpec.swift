import Foundation
// `mtlc init`: a starting spec written from a CSV's header and a sample of its rows. Every choice
// is a rule on what the sample shows, written beside the line it made, so a user sees why:
//
//   - Missing markers: cells such as `?`, `NA`, `null` found in the sample become `data.missing`.
//   - Numbers vs categories: a column whose non-missing cells all parse as numbers is `dense`,
//     unless its integers look like identifiers (a name ending in `id`, or nearly every value
//     distinct); anything else is `sparse`.
//   - Vocabularies: a sparse column with at most `maxLearned` distinct values in the sample learns
//     its vocabulary; above that it is hashed into a power of two of at least twice as many buckets.
//   - Embedding width: 6·n^¼ for n distinct values (Google's rule of thumb), rounded, in 4...64.
//   - Normalisation: `log` for non-negative columns whose 99th percentile is over 20 times their
//     median (counts, amounts), `standard` otherwise.
//   - The model: one task gets a tower on the features; several share 4 experts through a gate
//     each (MMOE).
//
// It reads the data; it does not train. The written spec is checked by `mtlc validate` like any.
import MTLData
import MTLSupport

public enum StarterSpec {
  /// A task asked for on the command line: `NAME=COLUMN:RULE`, RULE `regression`, `multiclass` or
  /// the label values that mean 1, separated by `|`.
  public struct TaskRequest: Equatable, Sendable {
    public enum Rule: Equatable, Sendable {
      case regression, multiclass
      case positive([String])
    }
    public var name: String
    public var column: String
    public var rule: Rule

    /// Parses `NAME=COLUMN:RULE`; nil with the reason when malformed.
    public static func parse(_ text: String) -> Result<TaskRequest, RequestError> {
      guard let eq = text.firstIndex(of: "="), let colon = text[eq...].firstIndex(of: ":") else {
        return .failure(RequestError(text: text, reason: "expected NAME=COLUMN:RULE, e.g. income=income-per-year:>50K"))
      }
      let name = String(text[..<eq])
      let column = String(text[text.index(after: eq)..<colon])
      let rule = String(text[text.index(after: colon)...])
      guard !name.isEmpty, !column.isEmpty, !rule.isEmpty else {
        return .failure(RequestError(text: text, reason: "the task name, its column and its rule must not be empty"))
      }
      guard validName(name) == name else {
        return .failure(
          RequestError(
            text: text, reason: "a task name starts with a letter or `_` and holds ASCII letters, digits, `_` or `-`"))
      }
      switch rule {
      case "regression": return .success(TaskRequest(name: name, column: column, rule: .regression))
      case "multiclass": return .success(TaskRequest(name: name, column: column, rule: .multiclass))
      default:
        return .success(
          TaskRequest(name: name, column: column, rule: .positive(rule.split(separator: "|").map(String.init))))
      }
    }
  }

  public struct RequestError: Error, CustomStringConvertible, Equatable {
    public var text: String
    public var reason: String
    public var description: String { "--task \(text): \(reason)" }
  }

  /// Distinct values up to which a sparse column learns its vocabulary.
  public static let maxLearned = 10_000
  /// Rows read for the sample.
  public static let sampleRows = 20_000
  /// Cells taken for missing markers when they occur.
  public static let missingCandidates = ["?", "NA", "N/A", "na", "n/a", "null", "NULL", "None", "nan", "NaN", "-"]

  /// What the sample shows about one column.
  struct ColumnFacts {
    var name: String
    var rows = 0
    var empty = 0
    var markers: [String: Int] = [:]
    var distinct: [String: Int] = [:]
    var numbers: [Double] = []
    var nonNumeric = 0
    var integersOnly = true
  }

  /// The spec text for `data` (the path written into the spec as `trainPath`), with `tasks`.
  /// Throws a DataError when the file cannot be read or a task's column is not in it.
  public static func write(
    data path: String, trainPath: String, tasks: [TaskRequest], delimiter: String = ",", name: String
  ) throws -> String {
    let table = try sample(path, delimiter: delimiter)
    for t in tasks where table.columnIndex(t.column) == nil {
      throw DataError(
        path: path, column: t.column,
        message:
          "task `\(t.name)` reads column `\(t.column)`, which is not in the header (\(table.header.count) columns)")
    }
    var facts = table.header.map { ColumnFacts(name: $0) }
    for r in 0..<table.rowCount {
      for c in 0..<table.header.count { observe(&facts[c], table.cell(row: r, column: c)) }
    }
    let markers = Set(facts.flatMap { $0.markers.keys })
    let missing = missingCandidates.filter(markers.contains)
    let labelColumns = Set(tasks.map(\.column))

    var out = "mtlc: 1\nname: \(name)\n"
    out +=
      "description: >\n  Written by `mtlc init` from \(table.rowCount) sampled rows of \(path); every choice is commented.\n"
    out += "  Review it, then `mtlc validate` and `mtlc run` it.\n\n"
    out += "data:\n  train: \(quoted(trainPath))\n  test_fraction: 0.2\n"
    if delimiter != "," { out += "  delimiter: \(quoted(delimiter))\n" }
    if missing.isEmpty {
      out += "  # no missing markers (?, NA, null, ...) in the sample; empty cells are missing anyway\n"
    } else {
      let counts = missing.map { m in "`\(m)` \(facts.reduce(0) { $0 + ($1.markers[m] ?? 0) })×" }
      out +=
        "  missing: [\(missing.map(quoted).joined(separator: ", "))]  # seen in the sample: \(counts.joined(separator: ", "))\n"
    }

    out += "\nfeatures:\n"
    var featureCount = 0
    for f in facts where !labelColumns.contains(f.name) {
      out += "  " + feature(f, missing: Set(missing)) + "\n"
      featureCount += 1
    }
    if featureCount == 0 {
      throw DataError(path: path, message: "every column is a task's label: there is no feature to learn from")
    }

    out += "\ntasks:\n"
    for t in tasks {
      let f = facts[table.columnIndex(t.column)!]
      out += "  " + task(t, f) + "\n"
    }

    if tasks.count == 1 {
      out += "\n# One task: a tower on the features. With more tasks, `mtlc init` shares experts (MMOE).\n"
      out += "towers:\n  \(tasks[0].name): {input: features, units: [64, 32]}\n"
    } else {
      out += "\n# MMOE (Ma et al. 2018): \(tasks.count) tasks share 4 experts, each through its own gate.\n"
      out += "experts:\n  shared: {count: 4, input: features, units: [64, 32]}\n\ngates:\n"
      for t in tasks { out += "  \(t.name): {input: features, experts: [shared]}\n" }
      out += "\ntowers:\n"
      for t in tasks { out += "  \(t.name): {input: gates.\(t.name), units: [16]}\n" }
    }
    out += "\ntraining:\n  optimizer: {type: adam, learning_rate: 0.001}\n  batch_size: 256\n  epochs: 10\n  seed: 1\n"
    return out
  }

  /// The first `sampleRows` rows of the file (whole lines only).
  static func sample(_ path: String, delimiter: String) throws -> RawTable {
    var bytes: [UInt8]
    do {
      bytes = try AtomicFile.read(path, limit: Int(UInt32.max) - 1)
    } catch let e as FileError {
      throw DataError(path: path, message: e.reason)
    }
    // A gzip file is sampled from its text.
    bytes = try RawTable.inflatedIfCompressed(bytes, path: path)
    var end = bytes.count
    var lines = 0
    for (i, b) in bytes.enumerated() where b == 0x0A {
      lines += 1
      if lines > sampleRows {
        end = i + 1
        break
      }
    }
    return try RawTable.parse(Array(bytes[0..<end]), path: path, delimiter: delimiter, onBadRow: .skip)
  }

  static func observe(_ f: inout ColumnFacts, _ cell: String) {
    f.rows += 1
    if cell.isEmpty {
      f.empty += 1
      return
    }
    if missingCandidates.contains(cell) {
      f.markers[cell, default: 0] += 1
      return
    }
    if f.distinct.count <= maxLearned * 10 { f.distinct[cell, default: 0] += 1 }
    if let x = Double(cell), x.isFinite {
      f.numbers.append(x)
      if x.rounded() != x { f.integersOnly = false }
    } else {
      f.nonNumeric += 1
    }
  }

  /// A feature's line with its comment.
  static func feature(_ f: ColumnFacts, missing: Set<String>) -> String {
    let n = f.distinct.count
    let seen = f.rows - f.empty - f.markers.values.reduce(0, +)
    let valid = validName(f.name)
    let nameKey = "{name: \(valid)" + (valid == f.name ? "" : ", column: \(quoted(f.name))")
    let numeric = f.nonNumeric == 0 && !f.numbers.isEmpty
    let lower = f.name.lowercased()
    let looksLikeID =
      numeric && f.integersOnly
      && (lower.hasSuffix("id") || (n > 1000 && Double(n) > 0.9 * Double(max(seen, 1))))
    if numeric && !looksLikeID {
      let sorted = f.numbers.sorted()
      let median = sorted[sorted.count / 2]
      let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
      let skewed = sorted[0] >= 0 && p99 > 20 * max(median, 0) && p99 > 0
      let how = skewed ? "log" : "standard"
      let why =
        skewed
        ? "numbers ≥ 0, skewed: 99th percentile \(fmt(p99)) > 20 × median \(fmt(median))"
        : "numbers in [\(fmt(sorted[0])), \(fmt(sorted[sorted.count - 1]))], median \(fmt(median))"
      return "- \(nameKey), kind: dense, normalize: \(how)}  # \(why)"
    }
    let dim = embeddingDim(n)
    let why = looksLikeID ? "integers that look like identifiers, \(n) distinct" : "\(n) distinct values"
    if n > maxLearned || looksLikeID {
      var buckets = 1
      while buckets < 2 * max(n, 1) { buckets *= 2 }
      buckets = min(buckets, 1 << 24)
      let reason =
        looksLikeID
        ? "hashed into 2× as many buckets: new ids still get rows of their own"
        : "more than \(maxLearned): hashed into 2× as many buckets"
      return
        "- \(nameKey), kind: sparse, embedding_dim: \(embeddingDim(buckets / 2)), vocabulary: {hash_buckets: \(buckets)}}  # \(why) in the sample, \(reason)"
    }
    return "- \(nameKey), kind: sparse, embedding_dim: \(dim)}  # \(why): a learned vocabulary, width 6·n^¼"
  }

  /// A task's line with its comment.
  static func task(_ t: TaskRequest, _ f: ColumnFacts) -> String {
    let label = "column: \(yamlName(t.column))"
    switch t.rule {
    case .regression:
      return
        "\(t.name): {type: regression, label: {\(label), normalize: standard}}  # trained on standardised values, reported in the column's units"
    case .multiclass:
      return
        "\(t.name): {type: multiclass, label: {\(label)}}  # \(f.distinct.count) classes in the sample, learned from the training rows"
    case .positive(let values):
      let hits = values.map { f.distinct[$0] ?? 0 }.reduce(0, +)
      let rate = f.rows > 0 ? Double(hits) / Double(f.rows) : 0
      let note =
        hits == 0
        ? "none of \(values.map { "`\($0)`" }.joined(separator: ", ")) occurs in the sample: check the value"
        : "positive rate \(fmt(rate)) in the sample"
      return
        "\(t.name): {type: binary, label: {\(label), positive: [\(values.map(quoted).joined(separator: ", "))]}}  # \(note)"
    }
  }

  /// 6·n^¼ rounded, in 4...64.
  static func embeddingDim(_ n: Int) -> Int {
    min(64, max(4, Int((6 * pow(Double(max(n, 1)), 0.25)).rounded())))
  }

  static func fmt(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
    return String(format: "%.3g", x)
  }

  /// A YAML double-quoted string.
  static func quoted(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }

  /// `s` as a spec name (ASCII letters, digits, `_`, `-`, starting with a letter or `_`, at most
  /// 64): other characters become `_`.
  public static func validName(_ s: String) -> String {
    var out = ""
    for c in s.unicodeScalars {
      let v = c.value
      let ok = (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 95 || (v >= 48 && v <= 57) || v == 45
      out.unicodeScalars.append(ok ? c : "_")
    }
    if let f = out.unicodeScalars.first,
      !((f.value >= 65 && f.value <= 90) || (f.value >= 97 && f.value <= 122) || f.value == 95)
    {
      out = "_" + out
    }
    return String(out.prefix(64))
  }

  /// A name or column as a plain scalar when it is safe, else quoted.
  static func yamlName(_ s: String) -> String {
    let plain = s.allSatisfy { $0.isLetter || $0.isNumber || "_-.".contains($0) } && s.first?.isLetter == true
    return plain ? s : quoted(s)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
