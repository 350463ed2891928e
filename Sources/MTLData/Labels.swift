// Reading a task's label from a data row: its sample space, missing cells and its rule.
//
// A row is scored for a task when it is in the task's sample space (`LabelColumn.space`: the
// space column's cell passes `positive` or `threshold`; a missing cell does not) and its label
// cell is not missing (empty, or a `missing` marker of any feature). Outside the space the label
// cell is not read at all (a conversion label is empty on rows without a click). A missing label
// in the space is an error unless `missing: mask`. Scored rows get the rule's value: 0/1 for
// `positive` and `threshold`, the number for `value` (standardised with the fitted statistics
// under `normalize: standard`), the class index for `classes`; unscored rows (and a class not
// in the list) get NaN, which every loss and metric skips.

import MTLGraph

/// The classes of a multiclass task: `label.classes`, or the distinct values of its label on the
/// scored training rows, sorted by UTF-8 bytes.
public struct FittedClasses: Codable, Equatable, Sendable {
  public var task: String
  public var values: [String]
}

/// The fitted statistics of a standardised regression label (`label.normalize: standard`).
public struct FittedLabel: Codable, Equatable, Sendable {
  public var task: String
  /// Scored training rows the statistics are over.
  public var count: Int
  public var mean: Double
  /// Population standard deviation (1 when it is 0, so the label is only shifted).
  public var std: Double

  /// The label as the model is trained on it.
  public func forward(_ y: Double) -> Double { (y - mean) / std }
  /// A prediction in the label's own units.
  public func inverse(_ z: Float) -> Float { Float(Double(z) * std + mean) }
}

/// One task's label, read from the cells of a row.
struct LabelReader {
  enum Outcome: Equatable {
    /// The rule's value (before normalisation).
    case value(Double)
    /// Not scored: outside the sample space, or a missing label under `missing: mask`.
    case absent
    /// A class not in the list (multiclass): not scored, and counted.
    case unseenClass
    /// A missing label in the space under `missing: error` (`empty`: the cell is empty).
    case missing(empty: Bool)
    /// A cell that must be a number is not one (the label's, or the space column's).
    case notANumber(column: Int, ParsedNumber)
  }

  let label: LabelColumn
  let column: Int
  /// Keys 0..<markers are the missing markers (and ""); then the positive values, or the classes
  /// in order.
  var keys: ByteSet
  let markers: Int
  /// For `classes`: the class index of key k, at k − markers (a class that is also a missing
  /// marker is missing, as for a sparse feature's fixed vocabulary).
  var classOf: [Int] = []
  let spaceColumn: Int?
  var spaceKeys: ByteSet
  let spaceMarkers: Int

  /// `classes`: a multiclass label's classes, in order (the fitted ones); nil before they are
  /// known, when every present class cell reads as `unseenClass`.
  init(_ label: LabelColumn, column: Int, spaceColumn: Int?, missing: [String], classes: [String]?) {
    self.label = label
    self.column = column
    self.spaceColumn = spaceColumn
    keys = markerSet(missing, withEmpty: true)
    markers = keys.count
    switch label.rule {
    case .positive(let set): for v in set { keys.insert(Array(v.utf8)) }
    case .classes, .learnedClasses:
      for (i, v) in (classes ?? []).enumerated() where keys.insert(Array(v.utf8)).inserted { classOf.append(i) }
    case .threshold, .value: break
    }
    spaceKeys = markerSet(missing, withEmpty: true)
    spaceMarkers = spaceKeys.count
    if case .positive(let set)? = label.space?.rule { for v in set { spaceKeys.insert(Array(v.utf8)) } }
  }

  /// The label of a row, given a way to read its cells.
  @inline(__always)
  func read(_ cell: (Int) -> UnsafeBufferPointer<UInt8>) -> Outcome {
    if let sc = spaceColumn, let space = label.space {
      let s = cell(sc)
      if let k = spaceKeys.find(s), k < spaceMarkers { return .absent }
      switch space.rule {
      case .positive: if spaceKeys.find(s) == nil { return .absent }
      case .threshold(let t):
        let n = parseNumber(s)
        guard case .number(let v) = n else { return .notANumber(column: sc, n) }
        if !(v > t) { return .absent }
      case .value, .classes, .learnedClasses: break
      }
    }
    let c = cell(column)
    let key = keys.find(c)
    if let key, key < markers { return label.missing == .mask ? .absent : .missing(empty: c.isEmpty) }
    switch label.rule {
    case .positive: return .value(key != nil ? 1 : 0)
    case .threshold(let t):
      let n = parseNumber(c)
      guard case .number(let v) = n else { return .notANumber(column: column, n) }
      return .value(v > t ? 1 : 0)
    case .value:
      let n = parseNumber(c)
      guard case .number(let v) = n else { return .notANumber(column: column, n) }
      return .value(v)
    case .classes, .learnedClasses:
      guard let key else { return .unseenClass }
      return .value(Double(classOf[key - markers]))
    }
  }
}
