import MTLData
import MTLDiagnostics
import MTLGraph
import MTLIR
import MTLSpec
import MTLSupport
import MTLYAML

/// The whole front end and compiler as library calls: spec text -> YAML tree -> spec -> IR ->
/// passes -> graph. The CLI calls these; tests call them directly.
public enum Compiler {
  public struct Options {
    /// Read the data files' headers to check column names (and vocabularies for the summary).
    public var readData = true
    /// With `readData`, also fit the learned vocabularies for the summary's embedding rows
    /// (`compile` shows them; `run` fits them itself).
    public var fitVocabularies = true
    /// The folder relative paths (the spec's, its data files') are taken from; nil: the process's
    /// working directory. Lets tests and tools compile as if run elsewhere, without `chdir`
    /// (which is process-wide).
    public var workingDirectory: String?
    /// `--set KEY=VALUE` flags, applied to the spec before it is decoded (`SpecOverrides`).
    public var overrides: [String] = []
    /// Run the IR verifier after every pass.
    public var verify = true
    /// Keep the IR text after each pass in `trace`.
    public var tracePasses = false
    public init() {}
  }

  public struct Result {
    /// The spec text, for rendering diagnostics (nil when unreadable or not UTF-8).
    public var source: SourceFile?
    /// The `--set` flags as a source, when there were any.
    public var flags: SourceFile?
    /// The files the spec's sections were included from (`SpecIncludes`), in the order read.
    public var includes: [SourceFile] = []
    public var diagnostics = Diagnostics()
    public var ir: IRModule?
    public var graph: Graph?
    public var trace: [Passes.Trace] = []
    /// Embedding rows learned from the training data, when it was readable.
    public var vocabularyRows: [String: Int]?
    /// Multiclass tasks' classes learned from the training data, when it was readable.
    public var classes: [String: [String]] = [:]
    /// Why the vocabularies could not be learned, when they could not.
    public var dataNote: String?
    public var succeeded: Bool { graph != nil && !diagnostics.hasErrors }

    /// The graph with embedding rows bound, when the data was readable.
    public var boundGraph: Graph? {
      guard let g = graph else { return nil }
      return vocabularyRows.map { g.bound(vocabularyRows: $0, classes: classes) } ?? g
    }
    /// Every diagnostic, rendered.
    public var rendered: String {
      DiagnosticRenderer.render(diagnostics, sources: [source, flags].compactMap { $0 } + includes)
    }
  }

  /// Reads, parses, decodes and validates a spec file.
  public static func frontEnd(path: String, options: Options = Options()) -> Result {
    let bytes: [UInt8]
    do {
      bytes = try AtomicFile.read(options.located(path), limit: YAMLLimits.default.maxBytes)
    } catch let e as FileError {
      var r = Result()
      if e.tooLarge {
        r.diagnostics.error(
          .tooLarge, "spec is over the limit of \(YAMLLimits.default.maxBytes) bytes",
          at: .point(path, line: 1, column: 1))
      } else {
        r.diagnostics.error(.unreadableFile, "cannot read spec `\(path)`: \(e.reason)", at: nil)
      }
      return r
    } catch {
      var r = Result()
      r.diagnostics.error(.unreadableFile, "cannot read spec `\(path)`: \(error)", at: nil)
      return r
    }
    return frontEnd(bytes: bytes, path: path, options: options)
  }

  public static func frontEnd(bytes: [UInt8], path: String, options: Options = Options()) -> Result {
    var r = Result()
    let yaml = YAMLReader.read(bytes: bytes, path: path)
    r.source = yaml.source
    r.diagnostics.add(contentsOf: yaml.diagnostics)
    guard var root = yaml.root else { return r }
    let included = SpecIncludes.resolve(root, path: path) {
      try AtomicFile.read(options.located($0), limit: YAMLLimits.default.maxBytes)
    }
    r.includes = included.sources
    r.diagnostics.add(contentsOf: included.diagnostics)
    // As with YAML errors, a section that could not be included is not decoded (its errors would
    // only repeat that it is missing).
    guard !included.diagnostics.hasErrors else { return r }
    root = included.root
    if !options.overrides.isEmpty {
      let o = SpecOverrides.apply(options.overrides, to: root)
      r.flags = o.sources.first
      // A flag that cannot be applied is reported and left out; the others are still decoded
      // and checked, so every mistake on the command line is reported at once.
      r.diagnostics.add(contentsOf: o.diagnostics)
      root = o.root
    }
    let (decoded, sd) = SpecDecoder.decode(root, path: path)
    r.diagnostics.add(contentsOf: sd)
    guard var spec = decoded, !r.diagnostics.hasErrors else { return r }
    spec.includes = r.includes.map(\.path)
    let header: ((String) -> DataHeader)? =
      options.readData
      ? { file in
        do {
          return .columns(
            try RawTable.readHeader(
              options.located(file), delimiter: spec.data.delimiter, columns: spec.data.columns?.value))
        } catch let e as DataError {
          return .unreadable(e.message)
        } catch {
          return .unreadable("\(error)")
        }
      } : nil
    // Label columns of the training file, read once per file (bad rows are skipped here: the
    // checks only need the values; `run` reports bad rows under the spec's policy).
    // Data that streams (past the threshold, or `streaming: true`) is not read here: it would be
    // read whole, and `run` streams it; nor is a file that cannot be parsed (the run reports that).
    var tables: [String: [RawTable]?] = [:]
    let column: ((String, String) -> ColumnValues?)? =
      options.readData
      ? { file, name in
        if tables[file] == nil {
          let files = (try? DataFiles.expand(options.located(file))) ?? []
          if files.isEmpty || spec.data.streaming == true
            || DataSets.estimatedBytes(files) > DataSets.streamingThreshold
          {
            tables[file] = .some(nil)
          } else {
            tables[file] = .some(
              try? files.map {
                try RawTable.read(
                  $0, delimiter: spec.data.delimiter, onBadRow: .skip, columns: spec.data.columns?.value)
              })
          }
        }
        guard let ts = tables[file] ?? nil else { return nil }
        var counts: [String: Int] = [:]
        var rows = 0
        for t in ts {
          guard let c = t.columnIndex(name) else { return nil }
          rows += t.rowCount
          for r in 0..<t.rowCount {
            counts[t.cell(row: r, column: c), default: 0] += 1
            if counts.count > 100_000 { return nil }
          }
        }
        return ColumnValues(rows: rows, counts: counts)
      } : nil
    let (ir, vd) = Validator.validate(spec, header: header, column: column)
    r.diagnostics.add(contentsOf: vd)
    r.ir = r.diagnostics.hasErrors ? nil : ir
    return r
  }

  /// Front end, passes and lowering. On success `graph` is set.
  public static func compile(path: String, options: Options = Options()) -> Result {
    finish(frontEnd(path: path, options: options), options)
  }

  public static func compile(bytes: [UInt8], path: String, options: Options = Options()) -> Result {
    finish(frontEnd(bytes: bytes, path: path, options: options), options)
  }

  static func finish(_ front: Result, _ options: Options) -> Result {
    var r = front
    guard var ir = r.ir else { return r }
    do {
      r.trace = try Passes.run(on: &ir, verify: options.verify, dump: options.tracePasses)
    } catch {
      // A verifier failure is a compiler bug, not a user error: say so plainly.
      r.diagnostics.error(.internalError, "internal compiler error: \(error)", at: nil)
      r.ir = nil
      return r
    }
    r.ir = ir
    let graph = Lowering.lower(ir)
    if let problem = graph.verify() {
      r.diagnostics.error(.internalError, "internal compiler error: lowered graph is invalid: \(problem)", at: nil)
      return r
    }
    r.graph = graph
    if options.readData && options.fitVocabularies
      && graph.params.contains(where: { $0.rowsFrom != nil || $0.colsFrom != nil })
    {
      do {
        var p = graph.pipeline
        p.train = options.located(p.train)
        p.test = p.test.map(options.located)
        p.validation = p.validation.map(options.located)
        // Without the data cache: compiling is not the hot path, and a library call (a test, an
        // editor) should not write the user's cache folder.
        let data = try LoadedData.load(p, cache: nil)
        r.vocabularyRows = data.fitted.vocabularySizes
        r.classes = data.fitted.classLists
      } catch {
        r.dataNote = "\(error)"
      }
    }
    return r
  }
}

extension Compiler.Options {
  /// `path` as the file system should see it: against `workingDirectory` when it is relative.
  func located(_ path: String) -> String {
    guard let wd = workingDirectory, !path.hasPrefix("/") else { return path }
    return Paths.resolve(path, against: wd)
  }
}
