/// Diagnostics are plain data: a code from the catalog, a span, a message and optional help.
/// They are collected by stage and rendered in one place (`DiagnosticRenderer`).

public enum Severity: String, Sendable {
  case error, warning
}

public struct Diagnostic: Sendable, Equatable {
  public var code: DiagnosticCode
  public var severity: Severity
  /// Where the problem is; nil only for problems with no location (an unreadable file).
  public var span: Span?
  /// Lowercase, no trailing period, names in backticks.
  public var message: String
  /// A short label printed beside the caret.
  public var label: String?
  /// A proposed fix. Only `help` proposes fixes.
  public var help: String?
  /// Further facts, e.g. where a duplicate was first defined.
  public var notes: [String]

  public init(
    _ code: DiagnosticCode, _ message: String, at span: Span?, label: String? = nil, help: String? = nil,
    notes: [String] = [], severity: Severity? = nil
  ) {
    self.code = code
    self.severity = severity ?? code.defaultSeverity
    self.span = span
    self.message = message
    self.label = label
    self.help = help
    self.notes = notes
  }

  /// The first line of the rendering: `path:line:col: error[E0101]: message`.
  public var headline: String {
    let loc = span.map { "\($0.location): " } ?? ""
    return "\(loc)\(severity.rawValue)[\(code.id)]: \(message)"
  }
}

/// An ordered collection of diagnostics produced by one stage.
public struct Diagnostics: Sendable {
  public private(set) var all: [Diagnostic] = []
  public init() {}
  public var hasErrors: Bool { all.contains { $0.severity == .error } }
  public var errors: [Diagnostic] { all.filter { $0.severity == .error } }
  public var warnings: [Diagnostic] { all.filter { $0.severity == .warning } }
  public mutating func add(_ d: Diagnostic) { all.append(d) }
  public mutating func add(contentsOf other: Diagnostics) { all.append(contentsOf: other.all) }
  public mutating func error(
    _ code: DiagnosticCode, _ message: String, at span: Span?, label: String? = nil, help: String? = nil,
    notes: [String] = []
  ) {
    add(Diagnostic(code, message, at: span, label: label, help: help, notes: notes))
  }
  /// Sorted by position, stable for equal positions (the order the stage found them).
  public var sorted: [Diagnostic] {
    all.enumerated().sorted { a, b in
      let la = a.element.span?.start ?? SourceLoc(line: 0, column: 0)
      let lb = b.element.span?.start ?? SourceLoc(line: 0, column: 0)
      return la != lb ? la < lb : a.offset < b.offset
    }.map(\.element)
  }
}

/// Thrown by a stage that found errors; carries every diagnostic of that stage.
public struct DiagnosticError: Error, Sendable {
  public var diagnostics: Diagnostics
  public init(_ diagnostics: Diagnostics) { self.diagnostics = diagnostics }
}
