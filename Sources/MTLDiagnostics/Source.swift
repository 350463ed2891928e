/// A source file held in memory, with line starts for rendering.
public struct SourceFile: Sendable {
  /// The path as the user gave it (diagnostics print this).
  public let path: String
  /// The text, as decoded UTF-8 (the reader rejects invalid UTF-8 before anything else).
  public let text: String
  private let lines: [Substring]

  public init(path: String, text: String) {
    self.path = path
    self.text = text
    self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
  }

  /// Line `n` (1-based) without its line terminator, or nil past the end.
  public func line(_ n: Int) -> String? {
    guard n >= 1, n <= lines.count else { return nil }
    var s = lines[n - 1]
    if s.hasSuffix("\r") { s = s.dropLast() }
    return String(s)
  }
}

/// A position: 1-based line and 1-based column counted in characters (Unicode scalars).
public struct SourceLoc: Hashable, Comparable, Sendable {
  public var line: Int
  public var column: Int
  public init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }
  public static func < (a: SourceLoc, b: SourceLoc) -> Bool {
    (a.line, a.column) < (b.line, b.column)
  }
}

/// A half-open range of source, in one file.
public struct Span: Hashable, Sendable {
  public var file: String
  public var start: SourceLoc
  /// Exclusive end.
  public var end: SourceLoc
  public init(file: String, start: SourceLoc, end: SourceLoc) {
    self.file = file
    self.start = start
    self.end = end
  }
  /// A zero-width span at a position (a caret of width 1 when rendered).
  public static func point(_ file: String, line: Int, column: Int) -> Span {
    Span(file: file, start: SourceLoc(line: line, column: column), end: SourceLoc(line: line, column: column))
  }
  /// `file:line:col`, the form editors and CI parse.
  public var location: String { "\(file):\(start.line):\(start.column)" }
}
