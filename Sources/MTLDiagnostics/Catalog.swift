/// Every diagnostic code mtlc can emit, in one place. docs/spec.md ("Diagnostics") lists them with examples.
///
/// E01xx: reading YAML. E02xx: the shape of the spec (keys, types, values). E03xx: the model
/// (references, cycles, widths, tasks). E04xx: the spec against its data. E09xx: bugs in mtlc
/// (exit 70, not 1). W: warnings.
public struct DiagnosticCode: Hashable, Sendable, CustomStringConvertible {
  public let id: String
  public let title: String
  public var defaultSeverity: Severity { id.hasPrefix("W") ? .warning : .error }
  public var description: String { id }
  init(_ id: String, _ title: String) {
    self.id = id
    self.title = title
  }
}

extension DiagnosticCode {
  // E01xx: YAML reading
  public static let unreadableFile = DiagnosticCode("E0100", "the spec file cannot be read")
  public static let yamlSyntax = DiagnosticCode("E0101", "invalid YAML")
  public static let duplicateKey = DiagnosticCode("E0102", "duplicate key")
  public static let aliasBudget = DiagnosticCode("E0103", "aliases expand past the budget")
  public static let tooDeep = DiagnosticCode("E0104", "nesting too deep")
  public static let tooLarge = DiagnosticCode("E0105", "file too large")
  public static let multipleDocuments = DiagnosticCode("E0106", "more than one document")
  public static let notUTF8 = DiagnosticCode("E0107", "not UTF-8")
  public static let nulByte = DiagnosticCode("E0108", "NUL byte")
  public static let tabIndent = DiagnosticCode("E0109", "tab used for indentation")
  public static let emptySpec = DiagnosticCode("E0110", "empty spec")
  public static let complexKey = DiagnosticCode("E0111", "mapping key is not a scalar")
  public static let unknownAlias = DiagnosticCode("E0112", "undefined alias")
  public static let unsupportedTag = DiagnosticCode("E0113", "unsupported tag")
  public static let unreadableInclude = DiagnosticCode("E0114", "included file cannot be read")
  public static let includeCycle = DiagnosticCode("E0115", "include cycle")
  public static let includeTooDeep = DiagnosticCode("E0116", "includes nested too deeply")

  // E02xx: spec structure
  public static let unknownKey = DiagnosticCode("E0201", "unknown key")
  public static let wrongType = DiagnosticCode("E0202", "wrong type")
  public static let missingKey = DiagnosticCode("E0203", "missing required key")
  public static let invalidValue = DiagnosticCode("E0204", "invalid value")
  public static let outOfRange = DiagnosticCode("E0205", "value out of range")
  public static let unsupportedVersion = DiagnosticCode("E0206", "unsupported spec version")
  public static let conflictingKeys = DiagnosticCode("E0207", "conflicting keys")
  public static let duplicateName = DiagnosticCode("E0208", "duplicate name")
  public static let invalidName = DiagnosticCode("E0209", "invalid name")
  public static let emptyList = DiagnosticCode("E0210", "empty list")

  // E03xx: the model
  public static let unknownReference = DiagnosticCode("E0301", "unknown reference")
  public static let cycle = DiagnosticCode("E0302", "dependency cycle")
  public static let gateWidthMismatch = DiagnosticCode("E0303", "gate mixes expert groups of different widths")
  public static let stackedInput = DiagnosticCode("E0304", "an expert group of several experts read directly")
  public static let productNotBinary = DiagnosticCode("E0305", "product of non-binary tasks")
  public static let taskWithoutOutput = DiagnosticCode("E0306", "task without a tower or an output")
  public static let unlearnableTask = DiagnosticCode("E0307", "task that nothing trains")
  public static let labelRule = DiagnosticCode("E0308", "label rule does not fit the task type")
  public static let towerAndOutput = DiagnosticCode("E0309", "task with both a tower and an output")
  public static let noLabelledTask = DiagnosticCode("E0310", "no task has a label")
  public static let towerShared = DiagnosticCode("E0311", "tower used by several tasks")
  public static let sharedEmbedding = DiagnosticCode("E0312", "embedding table shared wrongly")
  public static let funnel = DiagnosticCode("E0313", "transfer or calibration outside a funnel")

  // E04xx: spec against data
  public static let labelIsFeature = DiagnosticCode("E0401", "label column is also a feature")
  public static let missingColumn = DiagnosticCode("E0402", "column not in the data")
  public static let dataUnreadable = DiagnosticCode("E0403", "data file missing or unreadable")
  public static let labelValueAbsent = DiagnosticCode("E0404", "label value never occurs in the data")

  // E09xx: mtlc itself
  public static let internalError = DiagnosticCode("E0900", "internal compiler error")

  // Warnings
  public static let unusedBlock = DiagnosticCode("W0301", "block not used by any task")
  public static let constantLabel = DiagnosticCode("W0402", "label constant on the training rows")

  /// The whole catalog, for docs and tests.
  public static let all: [DiagnosticCode] = [
    .unreadableFile, .yamlSyntax, .duplicateKey, .aliasBudget, .tooDeep, .tooLarge, .multipleDocuments,
    .notUTF8, .nulByte, .tabIndent, .emptySpec, .complexKey, .unknownAlias, .unsupportedTag,
    .unreadableInclude, .includeCycle, .includeTooDeep,
    .unknownKey, .wrongType, .missingKey, .invalidValue, .outOfRange, .unsupportedVersion, .conflictingKeys,
    .duplicateName, .invalidName, .emptyList,
    .unknownReference, .cycle, .gateWidthMismatch, .stackedInput, .productNotBinary, .taskWithoutOutput,
    .unlearnableTask, .labelRule, .towerAndOutput, .noLabelledTask, .towerShared,
    .sharedEmbedding, .funnel,
    .labelIsFeature, .missingColumn, .dataUnreadable, .labelValueAbsent, .internalError,
    .unusedBlock, .constantLabel,
  ]
}
