import ArgumentParser
import MTLData
import MTLInit
import MTLSupport

struct Init: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a starting spec from a CSV's header and a sample of its rows.",
    discussion: """
      Dense or sparse, missing markers, vocabularies (learned or hashed), embedding widths and
      normalisations are guessed from the first \(StarterSpec.sampleRows) rows, each choice commented in the spec.
      Example: mtlc init data/adult.csv --task income=income-per-year:>50K --task hours=hours-per-week:regression -o spec.yaml
      """)

  @Argument(help: "The CSV file (its header names the columns).") var data: String
  @Option(
    name: .customLong("task"),
    help: ArgumentHelp(
      "A task: NAME=COLUMN:RULE, RULE `regression`, `multiclass`, or the label values meaning 1 (`a|b`). Repeatable.",
      valueName: "name=column:rule"))
  var tasks: [String] = []
  @Option(name: .shortAndLong, help: "Where to write the spec (`-`: standard output).") var output = "-"
  @Option(help: "The CSV's delimiter.") var delimiter = ","
  @Option(help: "The model's name (default: the file's name).") var name: String?
  @Flag(help: "Overwrite an existing output file.") var force = false

  func run() throws {
    guard !tasks.isEmpty else { throw ValidationError("give at least one --task NAME=COLUMN:RULE") }
    var requests: [StarterSpec.TaskRequest] = []
    for t in tasks {
      switch StarterSpec.TaskRequest.parse(t) {
      case .success(let r): requests.append(r)
      case .failure(let e): throw ValidationError(e.description)
      }
    }
    if let dup = Dictionary(grouping: requests, by: \.name).first(where: { $0.value.count > 1 })?.key {
      throw ValidationError("two --task options are named `\(dup)`")
    }
    let out = Output(output)
    try refuseOverwrites([out], force: force)
    // The spec names its data relative to its own folder, as every path in a spec is.
    var trainPath = data
    if case .file(let p) = out {
      let relative = Paths.relative(Paths.absolute(data), from: Paths.directory(of: Paths.absolute(p)))
      // Climbing out of the spec's folder to the root and down again reads worse than the path.
      trainPath =
        relative.hasPrefix("../") && relative.count > Paths.absolute(data).count ? Paths.absolute(data) : relative
    }
    let base = Paths.directory(of: data).isEmpty ? data : String(data.dropFirst(Paths.directory(of: data).count + 1))
    let model = name ?? StarterSpec.validName(base.split(separator: ".").first.map(String.init) ?? "model")
    do {
      let text = try StarterSpec.write(
        data: data, trainPath: trainPath, tasks: requests, delimiter: delimiter, name: model)
      try out.write(text)
      if case .file(let p) = out {
        eprint("wrote \(p): check it with `mtlc validate \(p)`, train it with `mtlc run \(p)`")
      }
    } catch { throw exitFor(error) }
  }
}
