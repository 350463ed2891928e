import MTLCompiler
import MTLDiagnostics
import Testing

/// The `help:` of diagnostics a new user meets first: indentation mistakes name both keys and
/// show both lines; an unknown reference suggests the closest name or lists what is defined.
struct HelpTextTests {
  func diagnose(_ text: String) -> [Diagnostic] {
    var o = Compiler.Options()
    o.readData = false
    return Compiler.compile(bytes: Array(text.utf8), path: "t.yaml", options: o).diagnostics.sorted
  }

  static let base = """
    mtlc: 1
    name: t
    data: {train: x.csv}
    features:
      - {name: age, kind: dense}
    experts:
      shared: {count: 2, input: features, units: [8]}
    gates:
      income: {input: features, experts: [shared]}
      marital: {input: features, experts: [shared]}
    towers:
      income: {input: INPUT, units: [4]}
    tasks:
      income: {type: binary, label: {column: y, positive: ["1"]}, tower: TOWER}
    training:
      optimizer: {type: adam, learning_rate: 0.001}
      batch_size: 32

    """

  @Test("an indentation mistake names both keys, shows both lines and says how to fix it")
  func indentation() throws {
    let text = Self.base.replacingOccurrences(of: "INPUT", with: "gates.income").replacingOccurrences(
      of: "TOWER", with: "income"
    ).replacingOccurrences(of: "  batch_size: 32", with: "   batch_size: 32")
    let d = try #require(diagnose(text).first)
    #expect(d.code == .yamlSyntax)
    #expect(d.message == "invalid YAML: `batch_size` is indented by 3 spaces and `optimizer` on line 16 by 2")
    #expect(d.span?.start.line == 17)
    #expect(d.notes.contains("line 16:   optimizer: {type: adam, learning_rate: 0.001}"))
    #expect(d.notes.contains("line 17:    batch_size: 32"))
    #expect(d.help?.contains("keys of one mapping start in the same column") == true)
  }

  @Test("an unknown gate or tower suggests the closest name, or lists what is defined")
  func unknownReferences() throws {
    let typo = Self.base.replacingOccurrences(of: "INPUT", with: "gates.incme").replacingOccurrences(
      of: "TOWER", with: "incom")
    let ds = diagnose(typo).filter { $0.code == .unknownReference }
    #expect(ds.count == 2)
    #expect(ds.first?.help == "a gate with a similar name exists: `income`")
    #expect(ds.last?.help == "a tower with a similar name exists: `income`")
    let far = Self.base.replacingOccurrences(of: "INPUT", with: "gates.zzz").replacingOccurrences(
      of: "TOWER", with: "marital")
    let fs = diagnose(far).filter { $0.code == .unknownReference }
    #expect(fs.count == 2)
    #expect(fs.first?.help == "the gates defined: `income`, `marital`")
    #expect(fs.last?.help == "the towers defined: `income`")
  }
}
